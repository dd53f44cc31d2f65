import type { MigrationDefinition } from '../definition/define';
import { parseDuration } from '../contract/duration';

/**
 * The backfill's speed and safety settings in the units the engine uses. Their defaults live in
 * the definition schema (src/definition/define.ts); here durations become milliseconds.
 */
export interface BackfillTuning {
  /** The first batch's size: `backfill.batchSize`. */
  startSize: number;
  /** `backfill.targetBatchMs`. */
  targetBatchMs: number;
  /** `backfill.maxLockMs`: the longest a transaction of a batch aims to hold its row locks. */
  maxLockMs: number;
  /** `backfill.minBatchSize`. */
  minBatchSize: number;
  /** `backfill.maxBatchSize`. */
  maxBatchSize: number;
  /** `backfill.lockTimeout`: `lock_timeout` of every batch transaction. */
  lockTimeoutMs: number;
  /** `backfill.statementTimeout`. */
  statementTimeoutMs: number;
}

/**
 * The tuning of a validated `backfill` section.
 * @example backfillTuning(definition.backfill).statementTimeoutMs // 5000 with the default target
 */
export function backfillTuning(backfill: MigrationDefinition['backfill']): BackfillTuning {
  return {
    startSize: backfill.batchSize,
    targetBatchMs: backfill.targetBatchMs,
    maxLockMs: backfill.maxLockMs,
    minBatchSize: backfill.minBatchSize,
    maxBatchSize: backfill.maxBatchSize,
    lockTimeoutMs: parseDuration(backfill.lockTimeout, 'backfill.lockTimeout'),
    statementTimeoutMs: parseDuration(backfill.statementTimeout, 'backfill.statementTimeout'),
  };
}
