import type { Pool } from 'pg';
import type { BackfillChunkInput, BackfillStatus, ChunkResult, InitBackfillInput, RetryFailedResult, RunRef } from '../contract/activities';
import type { LoadedMigration } from '../definition/registry';
import type { EngineMetrics } from './port';
import { describeTable } from '../pg/catalog';
import { requestStop, sumCounters } from '../store/checkpoints';
import { runChunk } from './chunk';
import { checkChunkInput, chunkSettings, type Chunk } from './chunk-setup';
import { openCursor } from './cursor';
import { checkFailedRows } from './isolate';
import { initPartitions } from './partitions';
import type { EnginePort } from './port';
import { createResources, type EngineOptions } from './resources';
import { retryFailedRows, type RetryPort } from './retry-failed';

/**
 * The backfill engine: checkpointed, time-boxed chunks of batches over one partition of the key.
 *
 * Each batch is one transaction that takes the partition's lock, checks that nobody else advanced
 * its checkpoint (a zombie attempt or a retry), applies the batch and moves the checkpoint
 * (`batch.ts`). So a batch takes effect exactly once, even across SIGKILL and retries, and
 * Postgres — not Temporal's heartbeat details — holds the authoritative cursor. Heartbeats and
 * results carry counters only: the Web UI shows them, so never key values, row data or error texts.
 *
 * It imports nothing of Temporal's: the host hands each chunk an `EnginePort` (heartbeat, sleep,
 * cancellation, log), and turns the engine's `FerryError`s into failures.
 */

/** What the engine runs on: the worker's pool and, optionally, its metrics. */
export interface EngineDeps {
  pool: Pool;
  metrics?: EngineMetrics;
}

/** The engine of one worker; its caches (sizers, limiters, gates) live as long as it does. */
export interface BackfillEngine {
  /** Creates the run's partitions, or restarts them for a greater `pass`; safe to run twice. */
  initBackfill(migration: LoadedMigration, input: InitBackfillInput): Promise<{ partitions: number; rowsEstimated: number }>;
  /** Runs one chunk of one partition through `port`. */
  runChunk(migration: LoadedMigration, input: BackfillChunkInput, port: EnginePort): Promise<ChunkResult>;
  /** Asks every partition of the run to stop after its current batch. */
  requestStop(ref: RunRef): Promise<void>;
  /** The run's counters summed over its partitions. */
  status(ref: RunRef): Promise<BackfillStatus>;
  /** Re-runs the run's recorded failed rows (`retry-failed.ts`); counts only. */
  retryFailed(migration: LoadedMigration, ref: RunRef, port: Omit<RetryPort, 'rateLimit'>): Promise<RetryFailedResult>;
}

/**
 * The backfill engine of a worker.
 * @example
 * const engine = createBackfillEngine({ pool });
 * const result = await engine.runChunk(migration, { ...ref, runId, partition: 0, maxMs: 60_000 }, port);
 */
export function createBackfillEngine(deps: EngineDeps, options: EngineOptions = {}): BackfillEngine {
  const resources = createResources(deps.pool, options);
  return {
    initBackfill: (migration, input) => initPartitions(deps.pool, migration.definition, input),

    async runChunk(migration, input, port) {
      checkChunkInput(input);
      const { definition } = migration;
      const table = await describeTable(deps.pool, definition.table, definition.key);
      const rateLimit = resources.limiter(migration);
      const gate = resources.gate(migration, table);
      const settings = chunkSettings(definition.backfill, options);
      const started = Date.now();
      await checkFailedRows(deps.pool, input, definition.backfill.maxFailedRows);
      const cursor = await openCursor(deps.pool, input);
      const sizer = resources.sizer(migration, input, cursor.batchSize);
      const latency = resources.latency(migration);
      const tools = { sizer, txSizer: resources.txSizer(migration, input), rateLimit, gate, latency, metrics: deps.metrics };
      const chunk: Chunk = { pool: deps.pool, input, migration, table, port, settings, tools };
      const result = await runChunk(chunk, cursor, started);
      if (result.done) resources.forget(migration, input);
      return result;
    },

    requestStop: (ref) => requestStop(deps.pool, ref),
    status: (ref) => sumCounters(deps.pool, ref),
    retryFailed: (migration, ref, port) => retryFailedRows(deps.pool, migration, ref, { ...port, rateLimit: resources.limiter(migration) }),
  };
}
