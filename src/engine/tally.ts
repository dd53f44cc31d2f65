import type { ChunkHeartbeat, ChunkResult, ChunkStop } from '../contract/activities';

/**
 * A chunk's own counters, as its heartbeats and its result report them: counters and fixed
 * reasons only, never key values, row data or error texts (the Web UI shows them). Pure.
 */
export interface Tally {
  rowsScanned: number;
  rowsUpdated: number;
  rowsFailed: number;
  batches: number;
  batchMs: number[];
  throttledMs: number;
  throttleReason?: string;
  contendedMs: number;
  contendedBatches: number;
  /** Batches in a row that hit lock_timeout or statement_timeout. */
  timeoutsInARow: number;
}

/** A tally at zero. */
export function newTally(): Tally {
  return {
    rowsScanned: 0,
    rowsUpdated: 0,
    rowsFailed: 0,
    batches: 0,
    batchMs: [],
    throttledMs: 0,
    contendedMs: 0,
    contendedBatches: 0,
    timeoutsInARow: 0,
  };
}

/** Counts a committed batch that took `ms`. */
export function countBatch(tally: Tally, batch: { scanned: number; updated: number; failed: number }, ms: number): void {
  tally.batchMs.push(ms);
  tally.batches += 1;
  tally.rowsScanned += batch.scanned;
  tally.rowsUpdated += batch.updated;
  tally.rowsFailed += batch.failed;
}

/**
 * Counts a batch of `ms` that blocked `blocked` other sessions (they waited for its row locks until
 * it committed): contended time and batches, and the reason, which says how far the sizer shrank.
 */
export function countContended(tally: Tally, blocked: number, ms: number, nextSize: number): void {
  tally.contendedMs += ms;
  tally.contendedBatches += 1;
  tally.throttleReason = `ferry's batch blocked ${blocked} ${blocked === 1 ? 'session' : 'sessions'}; batch shrunk to ${nextSize} rows`;
}

/** Counts `ms` of waiting for the database's health, for `reason`. */
export function countThrottled(tally: Tally, ms: number, reason: string): void {
  tally.throttledMs += ms;
  tally.throttleReason = reason;
}

/** The heartbeat of partition `partition` whose next batch has `batchSize` rows. */
export function heartbeatDetails(tally: Tally, partition: number, batchSize: number): ChunkHeartbeat {
  const { rowsScanned, rowsUpdated, rowsFailed, batches, throttledMs, throttleReason, contendedMs, contendedBatches } = tally;
  const counters = { partition, rowsScanned, rowsUpdated, rowsFailed, batches, batchSize };
  const details: ChunkHeartbeat = { ...counters, throttledMs, contendedMs, contendedBatches };
  return throttleReason === undefined ? details : { ...details, throttleReason };
}

/** The chunk's result: its counters, why it stopped, and the size its next batch would have. */
export function chunkResult(tally: Tally, end: { done: boolean; stopped: ChunkStop; elapsedMs: number; batchSize: number }): ChunkResult {
  const { rowsScanned, rowsUpdated, rowsFailed, batches, throttledMs, throttleReason, contendedMs, contendedBatches } = tally;
  const counters = {
    rowsScanned,
    rowsUpdated,
    rowsFailed,
    batches,
    elapsedMs: end.elapsedMs,
    batchMsMedian: median(tally.batchMs),
    batchSize: end.batchSize,
  };
  const held = { throttledMs, ...(throttleReason === undefined ? {} : { throttleReason }), contendedMs, contendedBatches };
  return { ...counters, ...held, done: end.done, stopped: end.stopped };
}

/**
 * The median of `values`, 0 when empty.
 * @example median([4, 1, 3, 2]) // 2.5
 */
export function median(values: number[]): number {
  if (values.length === 0) return 0;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}
