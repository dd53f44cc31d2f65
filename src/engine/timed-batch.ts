import { formatDuration } from '../contract/duration';
import { FerryError } from '../contract/errors';
import { LOCK_NOT_AVAILABLE, QUERY_CANCELED, sqlstate } from '../pg/errors';
import { emptyOutcome, runBatch, type BatchOutcome } from './batch';
import { batchSize, heartbeat, type Chunk } from './chunk-setup';
import type { Cursor } from './cursor';
import { checkFailedRows } from './isolate';
import { countBatch, countContended, type Tally } from './tally';

/**
 * One batch as the chunk's loop sees it: heartbeats while it runs and after, its duration fed to
 * the sizer, its counters tallied, a timeout turned into a smaller retry, failed rows checked.
 */

/** SQLSTATEs of a batch that ran out of time: lock_not_available (lock_timeout) and query_canceled (statement_timeout). */
const TIMEOUT_CODES = [LOCK_NOT_AVAILABLE, QUERY_CANCELED];

/**
 * Runs one batch with heartbeats flowing meanwhile, then heartbeats its counters. A batch that hit
 * lock_timeout or statement_timeout comes back as 'timed-out' (rolled back, nothing applied).
 * @throws FerryError BATCH_TIMEOUT past `timeoutRetries` timeouts in a row; TOO_MANY_FAILED_ROWS.
 */
export async function timedBatch(chunk: Chunk, cursor: Cursor, tally: Tally): Promise<BatchOutcome | 'timed-out'> {
  const outcome = await heartbeatingBatch(chunk, cursor, tally);
  heartbeat(chunk, tally);
  if (typeof outcome === 'string') {
    batchTimedOut(chunk, tally, outcome);
    return 'timed-out';
  }
  tally.timeoutsInARow = 0;
  if (outcome.failed > 0) await checkFailedRows(chunk.pool, chunk.input, chunk.migration.definition.backfill.maxFailedRows);
  return outcome;
}

/** How often to heartbeat while one batch runs: a third of the heartbeat timeout, 1..10 s. */
function heartbeatEveryMs(chunk: Chunk): number {
  const timeout = chunk.port.heartbeatTimeoutMs ?? 30_000;
  return Math.min(10_000, Math.max(1000, Math.floor(timeout / 3)));
}

/**
 * Runs the batch with a heartbeat timer; records its duration for the sizer and the median. Returns
 * the SQLSTATE of a timeout instead of throwing it (the transactions committed before it are
 * counted); a failure after cancellation throws the cancellation.
 */
async function heartbeatingBatch(chunk: Chunk, cursor: Cursor, tally: Tally): Promise<BatchOutcome | string> {
  const size = batchSize(chunk);
  const timer = setInterval(() => heartbeat(chunk, tally), heartbeatEveryMs(chunk));
  const t0 = Date.now();
  const progress = emptyOutcome();
  try {
    const outcome = await runBatch(chunk, cursor, size, progress);
    if (outcome.ran) recordBatch(chunk, tally, outcome, Date.now() - t0, size);
    return outcome;
  } catch (err) {
    const code = sqlstate(err);
    const timedOut = code !== undefined && TIMEOUT_CODES.includes(code);
    chunk.tools.sizer.observe(Date.now() - t0, 0, timedOut);
    if (progress.ran) countBatch(tally, progress, Date.now() - t0); // its committed transactions
    const { signal } = chunk.port;
    if (signal.aborted) throw signal.reason; // a batch that failed because of the cancellation
    if (timedOut) return code;
    throw err;
  } finally {
    clearInterval(timer);
  }
}

/** Feeds a committed batch to the sizer, the metrics and the tally. */
function recordBatch(chunk: Chunk, tally: Tally, outcome: BatchOutcome, ms: number, size: number): void {
  const { name, partition } = chunk.input;
  chunk.tools.sizer.observe(ms, outcome.scanned, false, outcome.blocked);
  if (outcome.blocked > 0) {
    const first = tally.contendedBatches === 0;
    const nextSize = batchSize(chunk);
    if (first)
      chunk.port.log('backfill batch blocked other sessions; shrinking batches', { migration: name, partition, blocked: outcome.blocked });
    countContended(tally, outcome.blocked, ms, nextSize);
  }
  chunk.tools.metrics?.batch(name, { rows: outcome.scanned, failedRows: outcome.failed, seconds: ms / 1000, size });
  countBatch(tally, outcome, ms);
}

/**
 * Counts a batch that hit lock_timeout (55P03) or statement_timeout (57014) and was rolled back;
 * the sizer has halved the next one. Past `timeoutRetries` in a row, fails the chunk (retryable).
 */
function batchTimedOut(chunk: Chunk, tally: Tally, code: string): void {
  tally.timeoutsInARow += 1;
  const { lockTimeoutMs, statementTimeoutMs } = chunk.settings.tuning;
  const which =
    code === LOCK_NOT_AVAILABLE
      ? `lock_timeout (${formatDuration(lockTimeoutMs)})`
      : `statement_timeout (${formatDuration(statementTimeoutMs)})`;
  const size = batchSize(chunk);
  chunk.port.log(`backfill batch hit ${which}; retrying with ${size} rows`, {
    migration: chunk.input.name,
    partition: chunk.input.partition,
  });
  if (tally.timeoutsInARow <= chunk.settings.timeoutRetries) return;
  throw new FerryError(
    'BATCH_TIMEOUT',
    `backfill of migration "${chunk.input.name}" on table ${chunk.table.quoted}: ${tally.timeoutsInARow} batches in a row hit ${which}, ` +
      `down to ${size} rows a batch. Another transaction holds locks on its rows, or batches are too slow. Temporal retries the chunk; ` +
      'if it goes on, look for long transactions in pg_stat_activity (xact_start), or raise backfill.lockTimeout / backfill.statementTimeout.',
  );
}
