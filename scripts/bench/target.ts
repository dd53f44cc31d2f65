/** The batch-duration target the engine aims at for the posts-member-uuid backfill. */
import * as backfill from '../../src/activities/backfill';
import example from '../../migrations/examples/posts-member-uuid';
import { backfillTuning } from '../../src/engine/tuning';

/** The target ferry's adaptive batch sizer was planned around, if nothing else says. */
export const PLANNED_TARGET_MS = 200;

/**
 * The target, from the first place that has one: a numeric export of activities/backfill.ts whose
 * name says target and milliseconds (or an exported object's `targetMs`); else
 * `backfillTuning(definition.backfill).targetBatchMs` of the example (src/backfill/tuning.ts);
 * else the planned 200 ms.
 */
export function batchTarget(): { ms: number; source: string } {
  for (const [name, value] of Object.entries(backfill)) {
    if (typeof value === 'number' && /target/i.test(name) && /ms/i.test(name)) {
      return { ms: value, source: `activities/backfill.ts exports ${name}` };
    }
    const nested = value && typeof value === 'object' ? (value as { targetMs?: unknown }).targetMs : undefined;
    if (typeof nested === 'number') return { ms: nested, source: `activities/backfill.ts exports ${name}.targetMs` };
  }
  const tuned = backfillTuning(example.backfill).targetBatchMs;
  if (typeof tuned === 'number') return { ms: tuned, source: 'backfillTuning(posts-member-uuid).targetBatchMs (src/backfill/tuning.ts)' };
  return { ms: PLANNED_TARGET_MS, source: 'the planned 200 ms (nothing exported)' };
}
