import type { MigrationDefinition } from '../definition/define';
import { parseDuration } from '../contract/duration';

/**
 * The backfill's speed and safety settings with their defaults filled in. The defaults live here,
 * not in the zod schema, so that a definition that does not set them validates to the same object
 * (and the same spec hash) as before they existed: workflows started by an older worker keep
 * matching their definition after an upgrade.
 */
export interface BackfillTuning {
  /** The first batch's size: `backfill.batchSize` (default 1000). */
  startSize: number;
  /** `backfill.targetBatchMs`, default 200. */
  targetBatchMs: number;
  /** `backfill.minBatchSize`, default 10 (or `batchSize`, if smaller). */
  minBatchSize: number;
  /** `backfill.maxBatchSize`, default 50,000 (or `batchSize`, if larger). */
  maxBatchSize: number;
  /** `backfill.lockTimeout`, default 2 s: `lock_timeout` of every batch transaction. */
  lockTimeoutMs: number;
  /** `backfill.statementTimeout`, default 10 × the target and at least 5 s. */
  statementTimeoutMs: number;
}

/** Defaults of the settings in `BackfillTuning`. */
export const TUNING_DEFAULTS = {
  targetBatchMs: 200,
  minBatchSize: 10,
  maxBatchSize: 50_000,
  lockTimeoutMs: 2000,
  minStatementTimeoutMs: 5000,
} as const;

/**
 * Fills in the defaults of a validated `backfill` section.
 * @example backfillTuning(definition.backfill).statementTimeoutMs // 5000 with the default target
 */
export function backfillTuning(backfill: MigrationDefinition['backfill']): BackfillTuning {
  const targetBatchMs = backfill.targetBatchMs ?? TUNING_DEFAULTS.targetBatchMs;
  const statementTimeout = backfill.statementTimeout;
  return {
    startSize: backfill.batchSize,
    targetBatchMs,
    minBatchSize: backfill.minBatchSize ?? Math.min(TUNING_DEFAULTS.minBatchSize, backfill.batchSize),
    maxBatchSize: backfill.maxBatchSize ?? Math.max(TUNING_DEFAULTS.maxBatchSize, backfill.batchSize),
    lockTimeoutMs: parseDuration(backfill.lockTimeout ?? TUNING_DEFAULTS.lockTimeoutMs, 'backfill.lockTimeout'),
    statementTimeoutMs:
      statementTimeout === undefined
        ? Math.max(TUNING_DEFAULTS.minStatementTimeoutMs, 10 * targetBatchMs)
        : parseDuration(statementTimeout, 'backfill.statementTimeout'),
  };
}
