import type { Pool } from 'pg';
import type { BackfillChunkInput } from '../contract/activities';
import { parseDuration } from '../contract/duration';
import { FerryError } from '../contract/errors';
import type { MigrationDefinition } from '../definition/define';
import type { LoadedMigration } from '../definition/registry';
import type { HealthGate } from '../health/gate';
import type { EngineMetrics } from './port';
import type { TableInfo } from '../pg/catalog';
import type { BatchSizer } from './batch-size';
import { pacedBatchSize } from './pacing';
import type { EnginePort } from './port';
import type { RateLimit } from './rate-limiter';
import type { EngineOptions } from './resources';
import { dutySize, type LatencyControl } from './latency-control';
import { heartbeatDetails, type Tally } from './tally';
import { DEFAULT_BACKOFF, type ThrottleBackoff } from './throttle';
import { backfillTuning, type BackfillTuning } from './tuning';

/**
 * What one chunk runs on and with (`Chunk`), built once per `backfillChunk`; the partition's
 * cursor and the chunk's tally travel beside it. Also the two things every part of a chunk asks of
 * it: the next batch's size and a heartbeat.
 */

/** A chunk's settings, from the definition and the engine's options. */
export interface ChunkSettings {
  tuning: BackfillTuning;
  backoff: ThrottleBackoff;
  timeoutRetries: number;
  /** `backfill.pause` between batches. */
  pauseMs: number;
  /** Commit batch transactions with `synchronous_commit = on` (default off; see `batchSettings`). */
  synchronousCommit: boolean;
}

/** The worker's shared parts a chunk uses (see `resources.ts`), and its metrics. */
export interface ChunkTools {
  sizer: BatchSizer;
  /** Rows a transaction of a batch, aiming at `backfill.maxLockMs`. */
  txSizer: BatchSizer;
  rateLimit: RateLimit;
  gate: HealthGate;
  /** The latency budget's canary and duty cycle, when `backfill.health.latency` is set. */
  latency?: LatencyControl;
  metrics?: EngineMetrics;
}

/** One chunk: what it runs on and with. Built once per chunk; its cursor and tally travel apart. */
export interface Chunk {
  pool: Pool;
  input: BackfillChunkInput;
  migration: LoadedMigration;
  table: TableInfo;
  port: EnginePort;
  settings: ChunkSettings;
  tools: ChunkTools;
}

/** The settings of a chunk of `backfill`, with the engine's options. */
export function chunkSettings(backfill: MigrationDefinition['backfill'], options: EngineOptions): ChunkSettings {
  return {
    tuning: backfillTuning(backfill),
    backoff: { ...DEFAULT_BACKOFF, ...options.health?.backoff },
    timeoutRetries: options.timeoutRetries ?? 5,
    pauseMs: parseDuration(backfill.pause, 'backfill.pause'),
    synchronousCommit: options.synchronousCommit ?? false,
  };
}

/**
 * Rejects a `maxRowsPerSec` that is not a positive number: a workflow bug.
 * @throws FerryError BAD_INPUT (not retryable).
 */
export function checkChunkInput(input: BackfillChunkInput): void {
  const rate = input.maxRowsPerSec;
  if (rate === undefined || (Number.isFinite(rate) && rate > 0)) return;
  throw new FerryError(
    'BAD_INPUT',
    `backfillChunk of migration "${input.name}" got maxRowsPerSec ${rate}; it must be a positive number of rows a second, or absent for no limit.`,
  );
}

/**
 * The size of the next batch: the sizer's, scaled by the latency budget's duty cycle, capped to a
 * second's rows under `maxRowsPerSec`.
 */
export function batchSize(chunk: Chunk): number {
  return pacedBatchSize(dutySize(chunk, chunk.tools.sizer.next()), chunk.input.maxRowsPerSec);
}

/** Sends the chunk's counters through the port. */
export function heartbeat(chunk: Chunk, tally: Tally): void {
  chunk.port.heartbeat(heartbeatDetails(tally, chunk.input.partition, batchSize(chunk)));
}
