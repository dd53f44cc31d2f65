import type { Pool } from 'pg';
import type { BackfillChunkInput } from '../contract/activities';
import type { LoadedMigration } from '../definition/registry';
import type { TableInfo } from '../pg/catalog';
import { createHealthGate, type HealthGate, type HealthGateOptions } from '../health/gate';
import { latencyCanary, type CanaryOptions } from '../health/latency';
import { healthChecks } from '../health/settings';
import { dutyCycle, type DutyCycleSettings } from './duty-cycle';
import type { LatencyControl } from './chunk-types';
import { adaptiveBatchSizer, type BatchSizer } from './batch-size';
import { reserveCalls } from '../store/rate-budgets';
import { createRateLimiter, sharedRateLimiter, type RateLimit } from './rate-limiter';
import type { ThrottleBackoff } from './throttle';
import { backfillTuning } from './tuning';

/** How the engine runs on a worker; tests shorten or fix these. */
export interface EngineOptions {
  /**
   * A sizer per partition (kept across its chunks on this worker); default `adaptiveBatchSizer`
   * on `backfillTuning(definition.backfill)`. `fixedBatchSizer(batchSize)` keeps every batch the same.
   * `start` is the size of the partition's last batch from its checkpoint, when there was one.
   */
  batchSizer?: (migration: LoadedMigration, start?: number) => BatchSizer;
  /** Health gate settings (cache, per-check timeout) and the backoff of its waits; tests shorten them. */
  health?: HealthGateOptions & { backoff?: Partial<ThrottleBackoff> };
  /** Batches in a row that may hit lock_timeout/statement_timeout before the chunk fails (retryable); default 5. */
  timeoutRetries?: number;
  /** The latency canary's sampling and the duty cycle's steps; tests shorten them. */
  latency?: CanaryOptions & DutyCycleSettings;
}

/**
 * What the chunks of one worker share: a rate limiter and a health gate per migration (so the
 * partitions of one migration share the limit and one round of checks), and a sizer per partition
 * (so the next chunk starts at the size the last one reached; on another worker, at the size its
 * checkpoint recorded).
 */
export interface ChunkResources {
  limiter(migration: LoadedMigration): RateLimit;
  gate(migration: LoadedMigration, table: TableInfo): HealthGate;
  /** The partition's sizer; made from `start` (the checkpoint's last batch size) on a miss. */
  sizer(migration: LoadedMigration, input: BackfillChunkInput, start?: number): BatchSizer;
  /** The partition's transaction sizer, aiming at `backfill.maxLockMs`. */
  txSizer(migration: LoadedMigration, input: BackfillChunkInput): BatchSizer;
  /** The migration's latency canary and duty cycle; undefined without `backfill.health.latency`. */
  latency(migration: LoadedMigration): LatencyControl | undefined;
  /** Drops the partition's sizers (it is done). */
  forget(migration: LoadedMigration, input: BackfillChunkInput): void;
}

/**
 * The worker's caches of limiters, gates and sizers.
 * @example const resources = createResources(pool, { timeoutRetries: 3 });
 */
export function createResources(pool: Pool, options: EngineOptions = {}): ChunkResources {
  const limiters = new Map<string, RateLimit>();
  const gates = new Map<string, HealthGate>();
  const sizers = new Map<string, BatchSizer>();
  const txSizers = new Map<string, BatchSizer>();
  const controls = new Map<string, LatencyControl | undefined>();
  const newSizer = options.batchSizer ?? defaultSizer;
  const partitionKey = (m: LoadedMigration, i: BackfillChunkInput) => `${m.name}/${m.specHash}/${i.runId}/${i.partition}`;
  return {
    limiter: (m) => cached(limiters, m.name, () => migrationRateLimit(pool, m)),
    gate: (m, table) =>
      cached(gates, `${m.name}/${m.specHash}`, () =>
        createHealthGate(pool, healthChecks(table.quoted, m.definition.backfill), options.health),
      ),
    sizer: (m, input, start) => cached(sizers, partitionKey(m, input), () => newSizer(m, start)),
    latency: (m) => cached(controls, `${m.name}/${m.specHash}`, () => latencyControl(pool, m, options.latency)),
    txSizer: (m, input) => cached(txSizers, partitionKey(m, input), () => transactionSizer(m)),
    forget: (m, input) => {
      sizers.delete(partitionKey(m, input));
      txSizers.delete(partitionKey(m, input));
    },
  };
}

/** The default sizer: adaptive, aiming at `backfill.targetBatchMs`, from `start` (else `backfill.batchSize`). */
function defaultSizer(m: LoadedMigration, start?: number): BatchSizer {
  const t = backfillTuning(m.definition.backfill);
  return adaptiveBatchSizer({ start: start ?? t.startSize, targetMs: t.targetBatchMs, min: t.minBatchSize, max: t.maxBatchSize });
}

/**
 * The transaction sizer: adaptive, aiming at `backfill.maxLockMs`, from `backfill.batchSize`
 * rows. Its size only caps a transaction (a batch smaller than it is one transaction); a
 * transaction that blocked the application shrinks it, so under contention locks get shorter still.
 */
function transactionSizer(m: LoadedMigration): BatchSizer {
  const t = backfillTuning(m.definition.backfill);
  return adaptiveBatchSizer({ start: t.startSize, targetMs: t.maxLockMs, min: t.minBatchSize, max: t.maxBatchSize });
}

/** `backfill.rateLimit.perSecond` as the migration's budget, shared by its workers in `ferry.rate_budgets`; none without it. */
function migrationRateLimit(pool: Pool, m: LoadedMigration): RateLimit {
  const perSecond = m.definition.backfill.rateLimit?.perSecond;
  if (perSecond === undefined) return createRateLimiter(undefined);
  return sharedRateLimiter((calls) => reserveCalls(pool, m.name, { calls, perSecond, burst: 1 }), perSecond);
}

/** The canary and control loop (transaction size, then duty cycle) of `backfill.health.latency`, or undefined without one. */
function latencyControl(pool: Pool, m: LoadedMigration, options: EngineOptions['latency'] = {}): LatencyControl | undefined {
  const budget = m.definition.backfill.health.latency;
  if (budget === undefined) return undefined;
  const lockMs = { maxLockMs: backfillTuning(m.definition.backfill).maxLockMs };
  return { canary: latencyCanary(pool, budget, { ...options, migration: m.name }), duty: dutyCycle({ lockMs, ...options }) };
}

/** `map.get(key)`, made and stored on a miss; the oldest entry goes beyond 1000 (runs that never finished). */
function cached<T>(map: Map<string, T>, key: string, make: () => T): T {
  let value = map.get(key);
  if (!map.has(key)) {
    map.set(key, (value = make()));
    if (map.size > 1000) map.delete(map.keys().next().value as string);
  }
  return value as T;
}
