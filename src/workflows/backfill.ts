/**
 * The backfill loop: rounds of chunk activities (one per unfinished partition, in parallel), each
 * processing batches for a few minutes and checkpointing in PostgreSQL. Pause and abort stop the
 * running chunks within one batch; the loop hands back to the main loop to continue-as-new when
 * the history grows.
 */
import { CancellationScope, condition, patched, workflowInfo } from '@temporalio/workflow';
import type { ChunkResult } from '../contract/activities';
import type { Activities } from './activities';
import { CANCELLATION_PATCH, handlesCancellation } from './cancel';
import { checkDeadline, paceFor } from './deadline';
import { publish } from './ui';
import type { MigrationInput, MigrationState } from '../contract/migration';

/** How often a stop request is repeated while chunks are still running. */
const STOP_REPEAT_MS = 5000;

/** How a pass ended: all partitions done, interrupted by pause/abort, or time to continue-as-new. */
export type PassOutcome = 'done' | 'interrupted' | 'continue-as-new';

/** True once the run's history should be handed to a new run. */
export function historyIsLong(input: MigrationInput): boolean {
  const info = workflowInfo();
  return info.continueAsNewSuggested || info.historyLength >= input.settings.historyLimit;
}

/**
 * The run id that keys this migration's checkpoints, failed rows and deploy mark: the run that
 * `ferry start` resumes (`input.resumeFrom`, after a cancelled, terminated or failed run), else
 * this workflow chain's first run.
 */
export function checkpointRunId(input: MigrationInput): string {
  return input.resumeFrom?.runId ?? workflowInfo().firstExecutionRunId;
}

/** Runs (or continues) the current backfill pass. */
export async function runBackfillPass(input: MigrationInput, state: MigrationState, acts: Activities): Promise<PassOutcome> {
  const ref = { name: input.name, specHash: input.specHash };
  const runId = checkpointRunId(input);
  const b = state.backfill;
  if (!b.partitionsLeft) {
    const init = await acts.short.initBackfill({ ...ref, runId, pass: b.pass });
    state.rowsEstimated = init.rowsEstimated;
    b.partitionsLeft = Array.from({ length: init.partitions }, (_, i) => i);
    b.done = false;
  }
  while (b.partitionsLeft.length > 0) {
    if (state.paused || state.abort) return 'interrupted';
    const paced = paceFor(state, b.partitionsLeft.length, Date.now());
    const results = await runRound(input, state, acts, runId, b.partitionsLeft, paced).catch(async (err) => {
      // Cancelled: the main loop records the counters, outside the cancelled scope.
      if (handlesCancellation(err)) throw err;
      // Batches of a failed chunk committed before it failed: show them (new in 0.1.1).
      if (patched('sync-counters-after-failed-chunk')) await syncCounters(input.name, state, acts, runId);
      throw err;
    });
    await recordRound(input.name, state, acts, runId, b.partitionsLeft, results);
    checkDeadline(state, results, paced, Date.now());
    publish(input, state);
    if (b.partitionsLeft.length > 0 && historyIsLong(input)) return 'continue-as-new';
  }
  b.done = true;
  return 'done';
}

/**
 * One chunk per partition, paced to `paced` rows/s each in deadline mode; asks them to stop when
 * the migration is paused or aborted, or finalized while paced (the next round runs unpaced).
 */
async function runRound(
  input: MigrationInput,
  state: MigrationState,
  acts: Activities,
  runId: string,
  partitions: number[],
  paced: number | undefined,
): Promise<ChunkResult[]> {
  const ref = { name: input.name, specHash: input.specHash };
  const pace = paced === undefined ? {} : { maxRowsPerSec: paced };
  let settled = false;
  const chunks = () =>
    Promise.allSettled(
      partitions.map((partition) => acts.chunk.backfillChunk({ ...ref, runId, partition, maxMs: input.settings.chunkMs, ...pace })),
    );
  // Since 0.2 the chunks are shielded from Temporal's cancel request: on cancellation they are
  // stopped like a pause (below), so the run waits until each has finished and checkpointed its
  // batch. (Cancelling them directly does not wait: their start is recorded only when they end.)
  const all = (patched(CANCELLATION_PATCH) ? CancellationScope.nonCancellable(chunks) : chunks()).then((r) => ((settled = true), r));
  const finalizedWhilePaced = () => paced !== undefined && state.backfill.finalized !== undefined;
  // A chunk clears the stop flag when it starts, so a stop that lands before a chunk has started
  // is repeated until every chunk has returned.
  const stopChunks = async () => {
    while (!settled) {
      await acts.short.requestStop({ name: input.name, runId });
      await condition(() => settled, STOP_REPEAT_MS);
    }
  };
  try {
    await condition(() => settled || state.paused || state.abort !== undefined || finalizedWhilePaced());
    await stopChunks();
  } catch (err) {
    // Cancelled by Temporal: stop the chunks within a batch and wait for them, so that nothing
    // runs after the run has ended.
    if (handlesCancellation(err)) await CancellationScope.nonCancellable(stopChunks);
    throw err;
  }
  const outcomes = await all;
  const failed = outcomes.find((o) => o.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
  return outcomes.map((o) => (o as PromiseFulfilledResult<ChunkResult>).value);
}

/** Updates counters from PostgreSQL (exact even when a killed attempt's work is not in any result) and the rate. */
async function recordRound(
  name: string,
  state: MigrationState,
  acts: Activities,
  runId: string,
  partitions: number[],
  results: ChunkResult[],
): Promise<void> {
  const b = state.backfill;
  await syncCounters(name, state, acts, runId);
  const elapsed = Math.max(1, ...results.map((r) => r.elapsedMs));
  const rows = results.reduce((sum, r) => sum + r.rowsScanned, 0);
  const rate = (rows * 1000) / elapsed;
  b.recentRate = b.recentRate > 0 ? 0.6 * rate + 0.4 * b.recentRate : rate;
  b.activeMs += elapsed;
  b.batches += results.reduce((sum, r) => sum + r.batches, 0);
  b.throttledMs = (b.throttledMs ?? 0) + results.reduce((sum, r) => sum + (r.throttledMs ?? 0), 0);
  b.throttleReason = results.find((r) => r.throttleReason)?.throttleReason ?? (b.throttledMs > 0 ? b.throttleReason : undefined);
  b.batchSize = results[0]?.batchSize ?? b.batchSize;
  b.batchSizeFixed = results[0]?.batchSizeFixed ?? b.batchSizeFixed;
  b.partitionsLeft = partitions.filter((_, i) => !results[i].done);
}

/** Copies the counters from the checkpoints: exact even when a killed attempt's work is in no result. */
export async function syncCounters(name: string, state: MigrationState, acts: Activities, runId: string): Promise<void> {
  const totals = await acts.short.backfillStatus({ name, runId });
  state.backfill.rowsScanned = totals.rowsScanned;
  state.backfill.rowsUpdated = totals.rowsUpdated;
  state.backfill.rowsFailed = totals.rowsFailed;
}
