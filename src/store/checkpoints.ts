import type { Pool, PoolClient, QueryResult } from 'pg';
import type { RunRef } from '../contract/activities';
import { inlineBigint, inlineInteger, inlineLiteral, inlineTextArray } from '../pg/quote';

/**
 * `ferry.backfill_checkpoints`: one row per backfill partition, written in the same transaction as
 * each batch, so that Postgres (not Temporal's heartbeat details) holds the authoritative cursor.
 * Fixed statements (the schema name is the constant `ferry`) and the small functions that run them.
 */

/** A database handle: the pool, or a client inside a transaction. */
type Db = Pool | PoolClient;

/** One partition of a run. */
export type PartitionRef = RunRef & { partition: number };

/** Serialises `initBackfill` of one run: `$1` migration, `$2` run id. */
export const LOCK_RUN = `SELECT pg_advisory_xact_lock(hashtext('ferry.backfill'), hashtext($1::text || '/' || $2::text))`;

/** The partitions of a run: `$1` migration, `$2` run id. */
export const SELECT_PARTITIONS = `SELECT partition, pass FROM ferry.backfill_checkpoints
 WHERE migration = $1::text AND run_id = $2::text ORDER BY partition`;

/** One partition: `$1` migration, `$2` run id, `$3` partition, `$4` pass, `$5` lower, `$6` upper, `$7` done. */
export const INSERT_PARTITION = `INSERT INTO ferry.backfill_checkpoints (migration, run_id, partition, pass, lower_key, upper_key, done)
 VALUES ($1::text, $2::text, $3::int, $4::int, $5::text[], $6::text[], $7::boolean) ON CONFLICT DO NOTHING`;

/** Starts pass `$3` of a run (`$1`, `$2`) from the beginning, keeping the counters. */
export const RESET_PASS = `UPDATE ferry.backfill_checkpoints
 SET pass = $3::int, last_key = NULL, done = false, stop_requested = false, updated_at = now()
 WHERE migration = $1::text AND run_id = $2::text AND pass < $3::int`;

/**
 * Ends the run's (`$1`, `$2`) last partition at key `$4` before pass `$3` starts (only while the
 * partitions are still below it), so that a catch-up pass reaches the rows inserted since the last.
 */
export const END_LAST_PARTITION = `UPDATE ferry.backfill_checkpoints c SET upper_key = $4::text[]
 WHERE c.migration = $1::text AND c.run_id = $2::text AND c.pass < $3::int
   AND c.partition = (SELECT max(partition) FROM ferry.backfill_checkpoints m WHERE m.migration = $1::text AND m.run_id = $2::text)`;

/** Clears the stop flag of one partition (`$1`, `$2`, `$3`) and returns its cursor. */
export const START_CHUNK = `UPDATE ferry.backfill_checkpoints SET stop_requested = false
 WHERE migration = $1::text AND run_id = $2::text AND partition = $3::int
 RETURNING pass, lower_key, upper_key, last_key, batches::text AS batches, done, batch_size`;

/**
 * Serialises the batches of one partition (`$1` migration, `$2` run id, `$3` partition) for the
 * rest of the transaction: a zombie attempt and its retry never run a batch at the same time. An
 * advisory lock rather than `SELECT ... FOR UPDATE` of the checkpoint row, so that `REQUEST_STOP`
 * does not queue behind a running batch (and lose the race for the row to the next batch).
 */
export const LOCK_PARTITION = `SELECT pg_advisory_xact_lock(hashtext('ferry.backfill/' || $1::text || '/' || $2::text), $3::int)`;

/** One partition's checkpoint (`$1`, `$2`, `$3`), read after `LOCK_PARTITION`. */
export const READ_CHECKPOINT = `SELECT pass, last_key, batches::text AS batches, done, stop_requested
 FROM ferry.backfill_checkpoints WHERE migration = $1::text AND run_id = $2::text AND partition = $3::int`;

/**
 * `READ_CHECKPOINT` that also sets the batch's `lock_timeout` (`$4`), `statement_timeout` (`$5`)
 * and `synchronous_commit` (`$6`; NULL keeps the session's) for the rest of the transaction (`set_config(..., true)`). Run
 * after `LOCK_PARTITION`, as a statement of its own, so its snapshot is taken after the lock (it
 * sees a zombie attempt's last batch) and the lock's wait is not under the timeouts; both go with
 * the transaction's BEGIN in one round trip (`openBatchStatements`).
 */
export const READ_CHECKPOINT_SET_TIMEOUTS = `SELECT pass, last_key, batches::text AS batches, done, stop_requested,
 set_config('lock_timeout', $4::text, true) AS lock_timeout, set_config('statement_timeout', $5::text, true) AS statement_timeout,
 set_config('synchronous_commit', COALESCE($6::text, current_setting('synchronous_commit')), true) AS synchronous_commit
 FROM ferry.backfill_checkpoints WHERE migration = $1::text AND run_id = $2::text AND partition = $3::int`;

/**
 * SQLSTATE that `ferry.advance_checkpoint` (store file 0004) and `ferry.checkpoint_moved` (0005,
 * called by the one-statement batch of src/sql/checkpointed-batch.ts) raise when the checkpoint is
 * no longer where the batch found it: another attempt or a new pass moved it. The transaction is
 * aborted, so the COMMIT sent after it does not run.
 */
export const CHECKPOINT_MOVED = 'ZF001';

/** Asks every partition of a run (`$1`, `$2`) to stop after its current batch. */
export const REQUEST_STOP = `UPDATE ferry.backfill_checkpoints SET stop_requested = true
 WHERE migration = $1::text AND run_id = $2::text`;

/** Counters of a run (`$1`, `$2`) summed over its partitions. */
export const SUM_COUNTERS = `SELECT COALESCE(sum(rows_scanned), 0)::float8 AS rows_scanned,
 COALESCE(sum(rows_updated), 0)::float8 AS rows_updated, COALESCE(sum(rows_failed), 0)::float8 AS rows_failed,
 COALESCE(bool_and(done), false) AS done
 FROM ferry.backfill_checkpoints WHERE migration = $1::text AND run_id = $2::text`;

const runParams = (ref: RunRef) => [ref.name, ref.runId];
const partitionParams = (ref: PartitionRef) => [ref.name, ref.runId, ref.partition];

/* ---------------------------------------------------------------- a run's partitions */

/** Takes the run's `initBackfill` lock for the rest of the transaction. */
export async function lockRun(client: PoolClient, ref: RunRef): Promise<void> {
  await client.query(LOCK_RUN, runParams(ref));
}

/** How many partitions the run has. */
export async function countPartitions(client: PoolClient, ref: RunRef): Promise<number> {
  return (await client.query(SELECT_PARTITIONS, runParams(ref))).rows.length;
}

/** Creates partition `partition` of the run at `pass`, with its bounds, unless it exists. */
export async function insertPartition(
  client: PoolClient,
  ref: PartitionRef,
  pass: number,
  bounds: { lower: string[] | null; upper: string[] | null },
  done = false,
): Promise<void> {
  await client.query(INSERT_PARTITION, [...partitionParams(ref), pass, bounds.lower, bounds.upper, done]);
}

/**
 * Restarts every partition of the run below `pass` from the beginning at `pass`, keeping the
 * counters; the last partition now ends at `lastKey` (the table's last key now), unless null.
 */
export async function resetPass(client: PoolClient, ref: RunRef, pass: number, lastKey: string[] | null): Promise<void> {
  if (lastKey) await client.query(END_LAST_PARTITION, [...runParams(ref), pass, lastKey]);
  await client.query(RESET_PASS, [...runParams(ref), pass]);
}

/**
 * Asks every partition of the run to stop after its current batch.
 * @example await requestStop(pool, { name: 'posts-member-uuid', runId })
 */
export async function requestStop(db: Db, ref: RunRef): Promise<void> {
  await db.query(REQUEST_STOP, runParams(ref));
}

/** The run's counters summed over its partitions (`done` when every partition is). */
export async function sumCounters(
  db: Db,
  ref: RunRef,
): Promise<{ rowsScanned: number; rowsUpdated: number; rowsFailed: number; done: boolean }> {
  const r = (await db.query(SUM_COUNTERS, runParams(ref))).rows[0];
  return { rowsScanned: r.rows_scanned, rowsUpdated: r.rows_updated, rowsFailed: r.rows_failed, done: r.done };
}

/* ---------------------------------------------------------------- one partition */

/** A partition's checkpoint row as `START_CHUNK` returns it (keys as text). */
export interface CheckpointRow {
  pass: number;
  lower_key: string[] | null;
  upper_key: string[] | null;
  last_key: string[] | null;
  /** `bigint` as text. */
  batches: string;
  done: boolean;
  batch_size: number | null;
}

/** Clears the partition's stop flag and returns its checkpoint; undefined when it has none. */
export async function startChunk(db: Db, ref: PartitionRef): Promise<CheckpointRow | undefined> {
  return (await db.query(START_CHUNK, partitionParams(ref))).rows[0];
}

/** Whether a stop was requested for the partition (false when it has no checkpoint). */
export async function stopRequested(db: Db, ref: PartitionRef): Promise<boolean> {
  return (await db.query(READ_CHECKPOINT, partitionParams(ref))).rows[0]?.stop_requested === true;
}

/** The checkpoint as a batch reads it, after the partition's lock. */
export interface CheckpointState {
  pass: number;
  last_key: string[] | null;
  batches: string;
  done: boolean;
  stop_requested: boolean;
}

/** A batch transaction's local settings, as `set_config` values. */
export interface BatchSettings {
  /** e.g. `'2000ms'`. */
  lockTimeout: string;
  statementTimeout: string;
  /** `'off'`, or null to keep the session's; see `batchSettings` in src/engine/batch.ts for why `off` is safe. */
  synchronousCommit: 'off' | null;
}

/**
 * A batch transaction's first statements, for `withTransaction`'s `first` (sent with its BEGIN in
 * one round trip): `LOCK_PARTITION`, then `READ_CHECKPOINT_SET_TIMEOUTS` as a statement of its own,
 * whose snapshot (READ COMMITTED) is taken once the lock is held, so it sees the checkpoint of a
 * zombie attempt's batch that the lock waited for. The simple protocol takes no parameters: the
 * values go in as literals (`inlineLiteral`, `inlineInteger`). Read the result with `openedCheckpoint`.
 */
export function openBatchStatements(ref: PartitionRef, settings: BatchSettings): string {
  const values = [
    inlineLiteral(ref.name),
    inlineLiteral(ref.runId),
    inlineInteger(ref.partition),
    inlineLiteral(settings.lockTimeout),
    inlineLiteral(settings.statementTimeout),
    settings.synchronousCommit === null ? 'NULL' : inlineLiteral(settings.synchronousCommit),
  ];
  return [LOCK_PARTITION, READ_CHECKPOINT_SET_TIMEOUTS].map((sql) => withLiterals(sql, values)).join(';\n');
}

/**
 * The statements before a one-statement batch (src/sql/checkpointed-batch.ts), for
 * `transactionInOneTrip`: `LOCK_PARTITION`, then the transaction's settings as a statement of its
 * own, so that the lock's wait is not under the timeouts and the batch's snapshot is taken once the
 * lock is held. Values as literals, as `openBatchStatements`.
 */
export function lockAndSettingsStatements(ref: PartitionRef, settings: BatchSettings): string[] {
  const lock = withLiterals(LOCK_PARTITION, [inlineLiteral(ref.name), inlineLiteral(ref.runId), inlineInteger(ref.partition)]);
  const set = [
    `set_config('lock_timeout', ${inlineLiteral(settings.lockTimeout)}, true)`,
    `set_config('statement_timeout', ${inlineLiteral(settings.statementTimeout)}, true)`,
  ];
  if (settings.synchronousCommit !== null) set.push(`set_config('synchronous_commit', ${inlineLiteral(settings.synchronousCommit)}, true)`);
  return [lock, `SELECT ${set.join(', ')}`];
}

/**
 * How many sessions wait for a lock this transaction holds (row locks are held until COMMIT, so
 * everyone queued behind one of the batch's rows is still waiting). Reading the lock table takes
 * every lock-manager partition, so a batch asks once, in its last transaction. As
 * `ferry.advance_checkpoint` counts them.
 */
export const COUNT_BLOCKED = `SELECT count(*)::int AS blocked FROM (SELECT DISTINCT pid FROM pg_locks WHERE NOT granted) w
 WHERE pg_backend_pid() = ANY(pg_blocking_pids(w.pid))`;

/** The checkpoint that `openBatchStatements` read; undefined when the partition has no row. */
export function openedCheckpoint(results: QueryResult[]): CheckpointState | undefined {
  if (results.length !== 2) throw new Error(`expected the results of 2 statements, got ${results.length}`);
  return results[1].rows[0];
}

/** `sql` (one of the fixed statements above, which hold no `$` but their parameters) with `$n` replaced by `values[n - 1]`. */
function withLiterals(sql: string, values: string[]): string {
  return sql.replace(/\$(\d+)/g, (_m, n: string) => values[Number(n) - 1]);
}

/** A batch's effect on its partition's checkpoint. */
export interface BatchRecord {
  /** The batch's last key; null keeps the checkpoint's. */
  lastKey: string[] | null;
  scanned: number;
  updated: number;
  failed: number;
  size: number;
  done: boolean;
  /** Count the sessions waiting for the transaction's locks (its batch's last transaction). */
  countBlocked: boolean;
}

/**
 * Records a batch through `ferry.advance_checkpoint` (store file 0004): `$1..$3` the partition, `$4`
 * the new last key (null keeps it), `$5` scanned, `$6` updated, `$7` failed, `$8` batch size, `$9`
 * done, guarded by pass `$10` and batch count `$11`; `$12` counts the sessions the transaction blocks.
 */
export const ADVANCE_CHECKPOINT = `SELECT stop_requested, blocked FROM ferry.advance_checkpoint($1::text, $2::text, $3::int, $4::text[],
 $5::bigint, $6::bigint, $7::bigint, $8::int, $9::boolean, $10::int, $11::bigint, $12::boolean)`;

/**
 * `ADVANCE_CHECKPOINT` for `withTransaction`'s `CommitWith` (sent with the COMMIT in one round trip,
 * so its values go in as literals). The function records the batch only while the checkpoint is
 * still at `guard` (pass and batch count as the batch found them) and otherwise raises
 * `CHECKPOINT_MOVED`, aborting the transaction. Read its result with `advancedCheckpoint`.
 * @example advanceStatement(ref, record, { pass: 1, batches: '41' }) // "SELECT stop_requested, blocked FROM ferry.advance_checkpoint('posts-member-uuid', ...)"
 */
export function advanceStatement(ref: PartitionRef, batch: BatchRecord, guard: { pass: number; batches: string }): string {
  const batches = inlineBigint(guard.batches);
  const lastKey = inlineTextArray(batch.lastKey);
  const counters = [batch.scanned, batch.updated, batch.failed, batch.size].map(inlineInteger);
  const values = [inlineLiteral(ref.name), inlineLiteral(ref.runId), inlineInteger(ref.partition), lastKey, ...counters];
  values.push(String(batch.done), inlineInteger(guard.pass), batches, String(batch.countBlocked));
  return withLiterals(ADVANCE_CHECKPOINT, values);
}

/** What `advanceStatement` returned: whether a stop was requested, and the sessions this transaction blocked. */
export function advancedCheckpoint(result: QueryResult): { stopRequested: boolean; blocked: number } {
  const row = result.rows[0];
  if (row === undefined) throw new Error('ferry.advance_checkpoint returned no row');
  return { stopRequested: row.stop_requested === true, blocked: Number(row.blocked) };
}
