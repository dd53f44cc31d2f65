/** The batch-duration target the engine aims at for the posts-member-uuid backfill. */
import example from '../../migrations/examples/posts-member-uuid';

/**
 * `backfill.targetBatchMs` of the example as validated (the definition schema holds its default,
 * src/definition/define.ts): what the adaptive sizer aims at in the benchmark.
 */
export function batchTarget(): { ms: number; source: string } {
  return {
    ms: example.backfill.targetBatchMs,
    source: 'backfill.targetBatchMs of posts-member-uuid (default in src/definition/define.ts)',
  };
}
