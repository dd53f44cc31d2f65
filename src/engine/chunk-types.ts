import type { Pool } from 'pg';
import type { BackfillChunkInput } from '../contract/activities';
import type { LoadedMigration } from '../definition/registry';
import type { HealthGate } from '../health/gate';
import type { LatencyCanary } from '../health/latency';
import type { TableInfo } from '../pg/catalog';
import type { BatchSizer } from './batch-size';
import type { DutyCycle } from './duty-cycle';
import type { EngineMetrics, EnginePort } from './port';
import type { RateLimit } from './rate-limiter';
import type { ThrottleBackoff } from './throttle';
import type { BackfillTuning } from './tuning';

/**
 * What one chunk runs on and with (`Chunk`), as types only: `chunk-setup.ts` builds its settings
 * and `latency-control.ts` reads its tools, and both import these from here, below either of them.
 */

/** A chunk's settings, from the definition and the engine's options. */
export interface ChunkSettings {
  tuning: BackfillTuning;
  backoff: ThrottleBackoff;
  timeoutRetries: number;
  /** `backfill.pause` between batches. */
  pauseMs: number;
  /** `backfill.synchronousCommit`: false commits batch transactions with `synchronous_commit = off` (see `batchSettings`). */
  synchronousCommit: boolean;
}

/** The canary and the duty cycle of one migration on this worker, shared by its partitions. */
export interface LatencyControl {
  canary: LatencyCanary;
  duty: DutyCycle;
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
