/**
 * Deadline mode (`backfill.deadline`, `ferry start --deadline 3d`): pace the backfill to finish on
 * time with the least load. Each round asks the chunks for the rate still needed (plus a margin),
 * so a backfill that fell behind speeds up; when even the unpaced rate would not do, it says so.
 */
import type { ChunkResult } from '../contract/activities';
import type { MigrationInput, MigrationState } from '../contract/migration';

/** Rate headroom over the bare need, so throttled moments can be caught up. */
const MARGIN = 1.2;

/** Starts the clock when the backfill starts (once). */
export function startDeadline(input: MigrationInput, state: MigrationState, now: number): void {
  if (input.deadlineMs === undefined || state.backfill.deadline) return;
  state.backfill.deadline = { at: new Date(now + input.deadlineMs).toISOString(), neededRowsPerSec: 0, onTrack: true };
}

/** Rows per second for each chunk of the next round, or undefined to run unpaced. */
export function paceFor(state: MigrationState, partitions: number, now: number): number | undefined {
  const d = state.backfill.deadline;
  if (!d || state.backfill.finalized) return undefined;
  const leftMs = Date.parse(d.at) - now;
  if (leftMs <= 0) return undefined; // late: as fast as health allows
  d.neededRowsPerSec = Math.ceil((remainingRows(state) * 1000) / leftMs);
  return Math.max(1, Math.ceil((d.neededRowsPerSec * MARGIN) / partitions));
}

/** After a round: is the deadline still reachable at the rate the chunks could achieve? */
export function checkDeadline(state: MigrationState, results: ChunkResult[], paced: number | undefined, now: number): void {
  const d = state.backfill.deadline;
  if (!d || state.backfill.finalized) return;
  const elapsed = Math.max(1, ...results.map((r) => r.elapsedMs));
  const achieved = (results.reduce((n, r) => n + r.rowsScanned, 0) * 1000) / elapsed;
  const late = Date.parse(d.at) <= now && remainingRows(state) > 0;
  const tooSlow = paced !== undefined && achieved < 0.8 * paced * results.length && !results.every((r) => r.done);
  if (late && !d.missed) {
    d.missed = true; // a missed deadline stays missed
    d.note = `the deadline ${d.at} passed with ~${remainingRows(state)} rows left; running unpaced`;
  } else if (!d.missed) {
    d.note = tooSlow
      ? `needs ${d.neededRowsPerSec} rows/s but achieved ${Math.round(achieved)} (throttled ${Math.round(sum(results, 'throttledMs') / 1000)}s); the deadline cannot be met at this rate`
      : undefined;
  }
  d.onTrack = !d.missed && !tooSlow;
}

function remainingRows(state: MigrationState): number {
  return Math.max(state.rowsEstimated - state.backfill.rowsScanned, 0);
}

function sum(results: ChunkResult[], key: 'throttledMs'): number {
  return results.reduce((n, r) => n + (r[key] ?? 0), 0);
}
