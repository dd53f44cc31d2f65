import type { PoolClient } from 'pg';
import type { ChunkStop } from '../contract/activities';
import { FerryError } from '../contract/errors';
import { isDefinitionError, sqlstate } from '../pg/errors';
import { CommitWith, RollbackWith, withTransaction } from '../pg/transaction';
import {
  advancedCheckpoint,
  advanceStatement,
  CHECKPOINT_MOVED,
  openBatchStatements,
  openedCheckpoint,
  type BatchSettings,
  type CheckpointState,
} from '../store/checkpoints';
import type { BatchTx, BatchWork } from './apply';
import type { Chunk } from './chunk-setup';
import { advanceCursor, sameKey, type Cursor } from './cursor';
import { isRowError } from './isolate';
import { latencyEngaged } from './latency-control';
import { processBatch } from './process-mode';
import { setBatch } from './set-mode';
import { fitsOneTrip, runSetTransaction } from './set-transaction';

/**
 * One batch, as short transactions. The batch (its size, its health check, its heartbeat) is the
 * unit of throughput; the transaction is the unit of lock holding: a batch runs as transactions of
 * about `backfill.maxLockMs` each (sized by the partition's transaction sizer), so an application
 * write that meets a row of the batch waits for one short transaction, not the whole batch.
 *
 * Each transaction takes the partition's lock, checks that the checkpoint is where this chunk left
 * it (nobody else — a zombie attempt, a retry, a new pass — moved it), applies its rows, advances
 * the checkpoint, COMMIT. In set mode, a transaction of up to `SET_STATEMENT_ROWS` rows that does
 * not isolate bad rows goes in one round trip, its check and advance folded into the batch
 * statement (src/engine/set-transaction.ts). Otherwise three round trips (BEGIN, the lock and the
 * checkpoint's read go in one, `openBatchStatements`; the advance and COMMIT in another,
 * `advanceStatement`), plus one per further statement of the apply. Either way every transaction
 * takes effect exactly once, even across SIGKILL and retries, and a crash between two of them
 * repeats nothing. Anything unexpected rolls back that transaction only; the ones before it are
 * committed with their checkpoints.
 */

/** What one batch transaction did. `ran` is false when it applied nothing and returned `stop`. */
export interface BatchOutcome {
  ran: boolean;
  scanned: number;
  updated: number;
  /** Rows newly recorded in ferry.failed_rows. */
  failed: number;
  stop?: ChunkStop;
  /** Sessions that were waiting for the batch's locks just before it committed. */
  blocked: number;
}

const NOTHING: BatchOutcome = { ran: false, scanned: 0, updated: 0, failed: 0, blocked: 0 };

/** An outcome at zero, for `runBatch` to sum its transactions into. */
export function emptyOutcome(): BatchOutcome {
  return { ...NOTHING };
}

/**
 * Runs one batch of `size` rows from `cursor` as transactions of at most the transaction sizer's
 * rows each, moving `cursor` past each once committed. `progress` sums the committed transactions,
 * so the caller still counts them when a later one throws. It ends early on a stop (done,
 * superseded, stop requested).
 * @throws FerryError INVALID_DEFINITION when PostgreSQL rejects the author's SQL (class 42).
 */
export async function runBatch(chunk: Chunk, cursor: Cursor, size: number, progress = emptyOutcome()): Promise<BatchOutcome> {
  const { txSizer } = chunk.tools;
  while (progress.scanned < size) {
    const rows = Math.min(size - progress.scanned, txSizer.next());
    const t0 = performance.now(); // sub-millisecond: a transaction may take about one
    const last = progress.scanned + rows >= size;
    const tx = await runTransaction(chunk, cursor, rows, last).catch((err: unknown) => {
      txSizer.observe(performance.now() - t0, 0, true);
      throw err;
    });
    if (tx.ran) txSizer.observe(performance.now() - t0, tx.scanned, false, tx.blocked);
    addOutcome(progress, tx);
    if (tx.stop !== undefined) break;
  }
  return progress;
}

/** Adds one transaction's outcome to the batch's. */
function addOutcome(sum: BatchOutcome, tx: BatchOutcome): void {
  sum.ran ||= tx.ran;
  sum.scanned += tx.scanned;
  sum.updated += tx.updated;
  sum.failed += tx.failed;
  sum.blocked = Math.max(sum.blocked, tx.blocked);
  sum.stop = tx.stop;
}

/**
 * One transaction of `size` rows from `cursor`; once committed, moves `cursor` past it. The batch's
 * `last` transaction counts the sessions it blocked (for the batch sizer's contention rule).
 */
async function runTransaction(chunk: Chunk, cursor: Cursor, size: number, last: boolean, isolate = false): Promise<BatchOutcome> {
  try {
    const result = fitsOneTrip(chunk, size, isolate)
      ? await oneTripTransaction(chunk, cursor, size, last)
      : await withTransaction(
          chunk.pool,
          (client, opened) => batchBody(chunk, client, cursor, { size, last, isolate, opened: openedCheckpoint(opened) }),
          { first: openBatchStatements(chunk.input, batchSettings(chunk)) },
        );
    if (result.work !== undefined) advanceCursor(cursor, result.work, size);
    return result.outcome;
  } catch (err) {
    // The advance found the checkpoint moved (it raised, so nothing of the transaction committed).
    if (sqlstate(err) === CHECKPOINT_MOVED) return { ...NOTHING, stop: superseded(chunk) };
    // A bare set-mode transaction met a bad row: rolled back whole; again, isolating it.
    if (!isolate && isRowError(err, 'set', chunk.port.signal)) return runTransaction(chunk, cursor, size, last, true);
    throw definitionError(chunk, err) ?? err;
  }
}

type BodyResult = { outcome: BatchOutcome; work?: BatchWork };

/** A set-mode transaction in one round trip (src/engine/set-transaction.ts), as `batchBody` reports one. */
async function oneTripTransaction(chunk: Chunk, cursor: Cursor, size: number, last: boolean): Promise<BodyResult> {
  const tx = await runSetTransaction(chunk, cursor, { size, countBlocked: last, settings: batchSettings(chunk) });
  if (!tx.ran) return { outcome: { ...NOTHING, stop: checkCheckpoint(chunk, tx.checkpoint, cursor) ?? superseded(chunk) } };
  return committed(tx.work, size, tx);
}

/** A committed transaction's result: it finished the partition when its window was short, else it stops when a stop was requested. */
function committed(work: BatchWork, size: number, advanced: { stopRequested: boolean; blocked: number }): BodyResult {
  const stop = work.scanned < size ? 'done' : advanced.stopRequested ? 'stop-requested' : undefined;
  return {
    outcome: { ran: true, scanned: work.scanned, updated: work.updated, failed: work.failed, blocked: advanced.blocked, stop },
    work,
  };
}

/**
 * A transaction's body, once its first statements took the partition's lock and read the
 * checkpoint (`tx.opened`): check, apply, then the checkpoint's advance to go with the COMMIT;
 * a stop rolls back with the reason.
 */
async function batchBody(
  chunk: Chunk,
  client: PoolClient,
  cursor: Cursor,
  tx: { size: number; last: boolean; isolate: boolean; opened: CheckpointState | undefined },
): Promise<RollbackWith<BodyResult> | CommitWith<BodyResult>> {
  const { size, last: countBlocked } = tx;
  const stopBefore = checkCheckpoint(chunk, tx.opened, cursor);
  if (stopBefore !== undefined) return new RollbackWith({ outcome: { ...NOTHING, stop: stopBefore } });
  const work = await applyBatch(chunk, client, cursor, size, tx.isolate);
  const done = work.scanned < size; // a short window: the partition's range is exhausted
  const advance = advanceStatement(chunk.input, { ...work, size, done, countBlocked }, cursor);
  return new CommitWith(advance, (results) => committed(work, size, advancedCheckpoint(results[0])));
}

/**
 * Given the checkpoint as read under the partition's lock (its snapshot taken after the lock),
 * returns why the batch must not run (another attempt moved it, a stop was requested, it is
 * done), or undefined to go on.
 */
function checkCheckpoint(chunk: Chunk, row: CheckpointState | undefined, cursor: Cursor): ChunkStop | undefined {
  if (!row || row.pass !== cursor.pass || row.batches !== cursor.batches || !sameKey(row.last_key, cursor.last)) {
    return superseded(chunk);
  }
  if (row.stop_requested) return 'stop-requested';
  if (row.done) {
    cursor.done = true;
    return 'done';
  }
  return undefined;
}

/**
 * The rest of the transaction's settings as `set_config` values: `lock_timeout` and
 * `statement_timeout`, set with the checkpoint's read, after the partition's lock (which waits for
 * a zombie attempt's batch by design); and `synchronous_commit`.
 *
 * `synchronous_commit` is `off` unless `backfill.synchronousCommit` is true, then as the session
 * has it. Measured (docs/benchmarks.md): without the application load, `off` moved 0.97 of the
 * hand loop's rows/s and `on` 0.86 (each commit waits for its WAL flush); under it, alternating the
 * two (`engine-sweep.ts --set sync`) left the application's update p99 lower with `on` in two
 * runs of two — the WAL writer flushes `off`'s WAL in bursts that the application's commits wait
 * behind — but whole bench runs did not confirm it. The latency budget's commit probe is what
 * holds the application's commits to a budget. `off` loses no correctness: the checkpoint commits
 * in the same transaction as the rows it covers, so a commit that a crash of PostgreSQL loses is
 * lost whole — rows and checkpoint together — and the next attempt redoes it from the checkpoint
 * before it. Nothing outside PostgreSQL depends on it: the workflow's counters are progress, not
 * the cursor, and the transaction that finishes a partition commits synchronously
 * (`ferry.advance_checkpoint`), which flushes every earlier one. While a latency budget holds the
 * backfill back (`latencyEngaged`), its small transactions commit as the session says: each then
 * flushes its own small share of WAL, rather than the WAL writer flushing them in bursts that the
 * application's commits wait behind (docs/benchmarks.md, "Why (d) misses").
 */
function batchSettings(chunk: Chunk): BatchSettings {
  const { lockTimeoutMs, statementTimeoutMs } = chunk.settings.tuning;
  const synchronous = chunk.settings.synchronousCommit || latencyEngaged(chunk);
  return {
    lockTimeout: `${Math.ceil(lockTimeoutMs)}ms`,
    statementTimeout: `${Math.ceil(statementTimeoutMs)}ms`,
    synchronousCommit: synchronous ? null : 'off',
  };
}

/** Applies the batch's change in set or process mode. */
function applyBatch(chunk: Chunk, client: PoolClient, cursor: Cursor, size: number, isolate: boolean): Promise<BatchWork> {
  const { backfill } = chunk.migration.definition;
  const tx: BatchTx = { client, table: chunk.table, backfill, run: chunk.input, signal: chunk.port.signal, isolate };
  return backfill.process
    ? processBatch(tx, { log: chunk.port.log, rateLimit: chunk.tools.rateLimit }, cursor, size)
    : setBatch(tx, cursor, size);
}

/** Logs that another attempt advanced the checkpoint; 'superseded'. */
function superseded(chunk: Chunk): 'superseded' {
  const { name, partition } = chunk.input;
  chunk.port.log('backfill chunk superseded: another attempt advanced the checkpoint', { migration: name, partition });
  return 'superseded';
}

/**
 * A non-retryable error for errors in the author's SQL (SQLSTATE class 42, syntax or undefined
 * object; not 42501 insufficient privilege, which a GRANT fixes): retrying cannot help.
 */
function definitionError(chunk: Chunk, error: unknown): FerryError | undefined {
  if (!isDefinitionError(error)) return undefined;
  return new FerryError(
    'INVALID_DEFINITION',
    `backfill of migration "${chunk.input.name}" on table ${chunk.table.quoted} failed: ${(error as Error).message} ` +
      `(SQLSTATE ${sqlstate(error)}); fix backfill.where/set, then abort the migration and start it again.`,
  );
}
