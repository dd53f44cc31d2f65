import type { HealthKind } from '../health/check';
import type { ChunkHeartbeat } from '../contract/activities';
import { abortableDelay } from './rate-limiter';

/**
 * What the backfill engine needs from whoever runs it: a Temporal activity in production
 * (`src/activities/backfill.ts` builds it from `Context.current()`), a plain object in tests. The
 * engine imports nothing of Temporal's, so it runs and is tested without an activity environment.
 * @example
 * const controller = new AbortController();
 * const port: EnginePort = {
 *   heartbeat: (d) => beats.push(d),
 *   sleep: (ms) => abortableDelay(ms, controller.signal),
 *   signal: controller.signal,
 *   log: () => undefined,
 * };
 */
export interface EnginePort {
  /** Reports progress (counters only: the Web UI shows it). */
  heartbeat(details: ChunkHeartbeat): void;
  /** Sleeps `ms`; rejects when the run is cancelled. */
  sleep(ms: number): Promise<void>;
  /**
   * Aborted when the run is cancelled (the worker shuts down, the migration pauses): the engine
   * finishes its batch, then throws `signal.reason`.
   */
  signal: AbortSignal;
  /** How long the host waits for a heartbeat before it gives up on the run; default 30 s. */
  heartbeatTimeoutMs?: number;
  /** The worker's log (never Temporal's history). */
  log(message: string, fields?: Record<string, unknown>): void;
}

/**
 * A port that heartbeats nowhere and logs to nothing, for runs that read their outcome from the
 * checkpoints (tests, benchmarks). Its sleep is cancellable like the activity's; nothing here
 * aborts its signal.
 * @example
 * const result = await engine.runChunk(migration, input, quietPort());
 */
export function quietPort(): EnginePort {
  const controller = new AbortController();
  return {
    heartbeat: () => undefined,
    sleep: (ms) => abortableDelay(ms, controller.signal),
    signal: controller.signal,
    log: () => undefined,
  };
}

/**
 * Where the engine counts batches and throttled time (the worker's Prometheus metrics,
 * `src/metrics.ts`, implement it); absent: nothing is counted.
 */
export interface EngineMetrics {
  /** One committed batch: its rows (scanned), newly failed rows, duration and size. */
  batch(migration: string, b: { rows: number; failedRows: number; seconds: number; size: number }): void;
  /** Time a chunk waited for the database to be healthy, by the kind of signal. */
  throttled(migration: string, kind: HealthKind, seconds: number): void;
  /** The latency budget after a batch: the canary's p99, the budget, the duty cycle (0..1), the transactions' lock time. */
  latency?(migration: string, l: { p99Ms: number; budgetMs: number; duty: number; lockMs?: number }): void;
}
