import { Context } from '@temporalio/activity';
import type {
  BackfillChunkInput,
  BackfillStatus,
  ChunkResult,
  InitBackfillInput,
  RetryFailedResult,
  RunInput,
  RunRef,
} from '../contract/activities';
import { checkChunkInput } from '../engine/chunk-setup';
import { createBackfillEngine } from '../engine/engine';
import type { EnginePort } from '../engine/port';
import type { EngineOptions } from '../engine/resources';
import { asActivity, withMigration, type ActivityDeps } from './context';
export type { BackfillChunkInput, ChunkResult, ChunkHeartbeat } from '../contract/activities';
export { adaptiveBatchSizer, fixedBatchSizer, type BatchSizer } from '../engine/batch-size';

/**
 * The backfill activities: thin wrappers around the engine (`src/engine/`). Each builds the
 * engine's port from the activity's context, looks the migration up, runs the engine and turns its
 * errors into Temporal failures (`toFailure`). Names, inputs and results are part of recorded
 * histories: they do not change.
 */

/** Options of `createBackfillActivities`: the engine's (sizer, health gate and backoff, timeout retries). */
export type BackfillOptions = EngineOptions;

/**
 * The backfill activities, bound to the worker's pool and migrations.
 * @example
 * const worker = await Worker.create({ activities: { ...createBackfillActivities(deps) }, ... });
 */
export function createBackfillActivities(deps: ActivityDeps, options: BackfillOptions = {}) {
  const engine = createBackfillEngine({ pool: deps.pool, metrics: deps.metrics }, options);

  return {
    /**
     * Creates the run's partitions (checkpoint rows) unless they exist; a greater `pass` restarts
     * every partition from the beginning, keeping the counters. Safe to run twice.
     */
    async initBackfill(input: InitBackfillInput): Promise<{ partitions: number; rowsEstimated: number }> {
      return withMigration(deps, input, ({ migration }) => engine.initBackfill(migration, input));
    },

    /** Processes batches of one partition for at most `maxMs`; see `ChunkResult.stopped` for why it returned. */
    async backfillChunk(input: BackfillChunkInput): Promise<ChunkResult> {
      return asActivity(async () => {
        checkChunkInput(input); // before the look-up: a workflow bug, not a deploy to wait for
        return withMigration(deps, input, ({ migration }) => engine.runChunk(migration, input, activityPort(deps)));
      });
    },

    /** Asks every partition of the run to stop after its current batch (how pause works). */
    async requestStop(input: RunRef): Promise<void> {
      return asActivity(() => engine.requestStop(input));
    },

    /** The run's counters summed over partitions, to re-sync the workflow after a crash. */
    async backfillStatus(input: RunRef): Promise<BackfillStatus> {
      return asActivity(() => engine.status(input));
    },

    /**
     * Re-runs the run's recorded failed rows, one short transaction each; rows that now succeed
     * (or no longer match `backfill.where`) leave `ferry.failed_rows`. Heartbeats and the result
     * carry counts only. Safe to run again.
     */
    async retryFailedRows(input: RunInput): Promise<RetryFailedResult> {
      return withMigration(deps, input, ({ migration }) => {
        const activity = Context.current();
        const log = deps.log ?? ((message: string, fields?: Record<string, unknown>) => activity.log.info(message, fields));
        return engine.retryFailed(migration, input, { signal: activity.cancellationSignal, heartbeat: (r) => activity.heartbeat(r), log });
      });
    },
  };
}

/** The engine's port on the current activity: its heartbeat, sleep, cancellation and log. */
function activityPort(deps: ActivityDeps): EnginePort {
  const activity = Context.current();
  return {
    heartbeat: (details) => activity.heartbeat(details),
    sleep: (ms) => activity.sleep(ms),
    signal: activity.cancellationSignal,
    heartbeatTimeoutMs: activity.info.heartbeatTimeoutMs,
    log: deps.log ?? ((message, fields) => activity.log.info(message, fields)),
  };
}
