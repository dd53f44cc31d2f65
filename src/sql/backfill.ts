import type { TableInfo } from '../pg/catalog';
import { quoteIdent } from '../pg/quote';

/**
 * The statements of the backfill, built from the table's description and the migration's
 * `backfill` settings. Pure functions: no I/O, golden-tested in `test/sql/backfill.test.ts`.
 *
 * Batches page by the key (keyset: `key > last ORDER BY key LIMIT n`), never by OFFSET, and never
 * with SKIP LOCKED. Key values travel as text (`text[]` for a whole key) and are cast back with the
 * column types from `describeTable`; every value is a `$n` parameter. The author's `where` and
 * `set` are trusted SQL that name the table's columns unqualified (or by the table's name): ferry
 * wraps them in parentheses and never rewrites them. ferry's own CTEs are named `ferry_*` so they
 * cannot shadow a table the author's SQL reads.
 */

/** The author's SQL that a batch statement wraps. */
export interface BackfillSql {
  where: string;
  set?: string;
}

/**
 * Which bounds a key range has: how many leading key columns the lower (exclusive) and upper
 * (inclusive) bound compare, 0 for no bound. The cursor (`last_key`) is always a whole key; a
 * partition bound may name only the first column (`"a" <= $2::int`).
 */
export interface RangeShape {
  lower: number;
  upper: number;
}

/** A statement and the number of `$n` parameters it takes. */
export interface Statement {
  text: string;
  params: number;
}

/** `"id"` or, for a composite key, `("a", "b")`: the first `width` key columns. */
export function keyTuple(table: TableInfo, width = table.key.length): string {
  const cols = table.key.slice(0, width).map((c) => quoteIdent(c.name));
  return cols.length === 1 ? cols[0] : `(${cols.join(', ')})`;
}

/** `"a", "b"`: the key columns as a select list. */
export function keyColumns(table: TableInfo): string {
  return table.key.map((c) => quoteIdent(c.name)).join(', ');
}

/** `"a", "b" DESC`-style order: the key columns, each with `direction` (default ascending). */
export function keyOrder(table: TableInfo, direction: '' | ' DESC' = ''): string {
  return table.key.map((c) => `${quoteIdent(c.name)}${direction}`).join(', ');
}

/** `ARRAY["a"::text, "b"::text]`: a key as `text[]`, the form it is stored and passed in. */
export function keyAsText(table: TableInfo): string {
  return `ARRAY[${table.key.map((c) => `${quoteIdent(c.name)}::text`).join(', ')}]`;
}

/** `$3::bigint` or `($3::int, $4::text)`: a bound of `width` key columns as cast parameters. */
export function keyParams(table: TableInfo, width: number, first: number): string {
  const casts = table.key.slice(0, width).map((c, i) => `$${first + i}::${c.type}`);
  return casts.length === 1 ? casts[0] : `(${casts.join(', ')})`;
}

/**
 * The conditions of a key range, `["id" > $1::bigint, "id" <= $2::bigint]`, with parameters from
 * `first` on: the lower bound's values, then the upper bound's.
 */
export function keyRange(table: TableInfo, shape: RangeShape, first = 1): { conditions: string[]; next: number } {
  const conditions: string[] = [];
  let next = first;
  if (shape.lower > 0) {
    conditions.push(`${keyTuple(table, shape.lower)} > ${keyParams(table, shape.lower, next)}`);
    next += shape.lower;
  }
  if (shape.upper > 0) {
    conditions.push(`${keyTuple(table, shape.upper)} <= ${keyParams(table, shape.upper, next)}`);
    next += shape.upper;
  }
  return { conditions, next };
}

function whereClause(conditions: string[]): string {
  return conditions.length === 0 ? '' : ` WHERE ${conditions.join(' AND ')}`;
}

/** The next window of keys: `SELECT <key> FROM t WHERE <range> ORDER BY <key> LIMIT $n`. */
function windowSelect(table: TableInfo, shape: RangeShape): { text: string; params: number } {
  const range = keyRange(table, shape);
  const text =
    `SELECT ${keyColumns(table)} FROM ${table.quoted}${whereClause(range.conditions)}` +
    ` ORDER BY ${keyOrder(table)} LIMIT $${range.next}::int`;
  return { text, params: range.next };
}

/**
 * Key types whose `max()` orders as `ORDER BY` does (same operator class, the column's collation).
 * uuid, boolean and others have no `max()` before PostgreSQL 16, so they keep the sort.
 */
const MAX_TYPES = /^(smallint|integer|bigint|numeric(\(.*\))?|text|character varying(\(\d+\))?|date|timestamp(\(\d\))? with(out)? time zone)$/;

/**
 * `(SELECT ARRAY[..] FROM <cte> ...)`: the last key of a CTE, as text[], null when it is empty.
 * A single-column key of a `MAX_TYPES` type takes `max()` (an aggregate, no sort); any other key
 * `ORDER BY <key> DESC LIMIT 1`.
 */
function lastKeyOf(table: TableInfo, cte: string): string {
  if (table.key.length === 1 && MAX_TYPES.test(table.key[0].type)) {
    const col = quoteIdent(table.key[0].name);
    return `(SELECT ARRAY[max(${col})::text] FROM ${cte} HAVING count(*) > 0)`;
  }
  return `(SELECT ${keyAsText(table)} FROM ${cte} ORDER BY ${keyOrder(table, ' DESC')} LIMIT 1)`;
}

/**
 * Set mode: one batch in one statement. Parameters: the range's bounds (see `keyRange`), then the
 * batch size. Returns one row `{ scanned, updated, last_key }`; `last_key` is null when the range
 * is exhausted.
 *
 * @example
 * buildSetBatch(posts, { where: 'member_uuid IS NULL', set: 'member_uuid = gen_random_uuid()' }, { lower: 1, upper: 0 })
 * // WITH ferry_batch AS MATERIALIZED (SELECT "id" FROM "public"."posts" WHERE "id" > $1::bigint ...
 */
export function buildSetBatch(table: TableInfo, sql: BackfillSql, shape: RangeShape): Statement {
  if (sql.set === undefined) throw new Error('buildSetBatch needs backfill.set');
  const window = windowSelect(table, shape);
  const text =
    `WITH ferry_batch AS MATERIALIZED (${window.text}),\n` +
    `ferry_updated AS (UPDATE ${table.quoted} SET ${sql.set}\n` +
    ` WHERE ${keyTuple(table)} IN (SELECT ${keyColumns(table)} FROM ferry_batch) AND (${sql.where})\n` +
    ` RETURNING 1)\n` +
    `SELECT (SELECT count(*) FROM ferry_batch)::int AS scanned,` +
    ` (SELECT count(*) FROM ferry_updated)::int AS updated,\n` +
    ` ${lastKeyOf(table, 'ferry_batch')} AS last_key`;
  return { text, params: window.params };
}

/**
 * The next window of keys without changing anything: `{ scanned, last_key }`. Parameters as
 * `buildSetBatch`. Process mode reads its rows up to `last_key`; set mode uses it to isolate bad rows.
 */
export function buildWindow(table: TableInfo, shape: RangeShape): Statement {
  const window = windowSelect(table, shape);
  const text =
    `WITH ferry_window AS MATERIALIZED (${window.text})\n` +
    `SELECT (SELECT count(*) FROM ferry_window)::int AS scanned, ${lastKeyOf(table, 'ferry_window')} AS last_key`;
  return { text, params: window.params };
}

/**
 * The keys (as `key text[]`) in a range that still match `where`, in key order: the rows a failed
 * set-mode batch is bisected over. Parameters: the range's bounds.
 */
export function buildSelectKeys(table: TableInfo, sql: BackfillSql, shape: RangeShape): Statement {
  const range = keyRange(table, shape);
  const text =
    `SELECT ${keyAsText(table)} AS key FROM ${table.quoted}` +
    `${whereClause([...range.conditions, `(${sql.where})`])} ORDER BY ${keyOrder(table)}`;
  return { text, params: range.next - 1 };
}

/**
 * Set mode on chosen rows: `UPDATE ... WHERE <key> IN (<the given keys>) AND (<where>)`, returning
 * `{ updated }`. Parameters: one `text[]` per key column (column-wise, equal lengths).
 */
export function buildApplyKeys(table: TableInfo, sql: BackfillSql): Statement {
  if (sql.set === undefined) throw new Error('buildApplyKeys needs backfill.set');
  const n = table.key.length;
  const arrays = table.key.map((_c, i) => `$${i + 1}::text[]`).join(', ');
  const aliases = table.key.map((_c, i) => `k${i + 1}`).join(', ');
  const casts = table.key.map((c, i) => `k.k${i + 1}::${c.type}`).join(', ');
  const text =
    `WITH ferry_updated AS (UPDATE ${table.quoted} SET ${sql.set}\n` +
    ` WHERE ${keyTuple(table)} IN (SELECT ${casts} FROM unnest(${arrays}) AS k(${aliases})) AND (${sql.where})\n` +
    ` RETURNING 1)\n` +
    `SELECT count(*)::int AS updated FROM ferry_updated`;
  return { text, params: n };
}

/** The column under which `buildSelectRows` returns each row's key; removed before `process`. */
export const ROW_KEY_COLUMN = '__ferry_key';

/**
 * Process mode: the rows of a range that match `where`, locked against concurrent writes
 * (`FOR NO KEY UPDATE`, never SKIP LOCKED) so `process` cannot overwrite a change made after it
 * read the row. Each row carries its key as `text[]` in `__ferry_key`. Parameters: the range's bounds.
 */
export function buildSelectRows(table: TableInfo, sql: BackfillSql, shape: RangeShape): Statement {
  const range = keyRange(table, shape);
  const text =
    `SELECT *, ${keyAsText(table)} AS ${quoteIdent(ROW_KEY_COLUMN)} FROM ${table.quoted}` +
    `${whereClause([...range.conditions, `(${sql.where})`])} ORDER BY ${keyOrder(table)} FOR NO KEY UPDATE`;
  return { text, params: range.next - 1 };
}

/** `{ min, max }` of the first key column as text: the span an integer key is split over. */
export function buildFirstKeySpan(table: TableInfo): Statement {
  const first = quoteIdent(table.key[0].name);
  return { text: `SELECT min(${first})::text AS min, max(${first})::text AS max FROM ${table.quoted}`, params: 0 };
}

/**
 * A cheap sample of keys (as `key text[]`, in key order): `TABLESAMPLE SYSTEM ($1)` with $1 the
 * percentage of pages to read. Used to split a non-integer key into partitions.
 */
export function buildSampleKeys(table: TableInfo): Statement {
  const text =
    `SELECT ${keyAsText(table)} AS key FROM ${table.quoted} TABLESAMPLE SYSTEM ($1::float8)` +
    ` ORDER BY ${keyOrder(table)}`;
  return { text, params: 1 };
}

/* ferry's state tables: fixed statements (the schema name is the constant `ferry`). */

/** Serialises `initBackfill` of one run: `$1` migration, `$2` run id. */
export const LOCK_RUN = `SELECT pg_advisory_xact_lock(hashtext('ferry.backfill'), hashtext($1::text || '/' || $2::text))`;

/** The partitions of a run: `$1` migration, `$2` run id. */
export const SELECT_PARTITIONS = `SELECT partition, pass FROM ferry.backfill_checkpoints
 WHERE migration = $1::text AND run_id = $2::text ORDER BY partition`;

/** One partition: `$1` migration, `$2` run id, `$3` partition, `$4` pass, `$5` lower, `$6` upper. */
export const INSERT_PARTITION = `INSERT INTO ferry.backfill_checkpoints (migration, run_id, partition, pass, lower_key, upper_key)
 VALUES ($1::text, $2::text, $3::int, $4::int, $5::text[], $6::text[]) ON CONFLICT DO NOTHING`;

/** Starts pass `$3` of a run (`$1`, `$2`) from the beginning, keeping the counters. */
export const RESET_PASS = `UPDATE ferry.backfill_checkpoints
 SET pass = $3::int, last_key = NULL, done = false, stop_requested = false, updated_at = now()
 WHERE migration = $1::text AND run_id = $2::text AND pass < $3::int`;

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
 * `READ_CHECKPOINT` that also sets the batch's `lock_timeout` (`$4`) and `statement_timeout` (`$5`)
 * for the rest of the transaction (`set_config(..., true)`): one round trip instead of two. Run
 * after `LOCK_PARTITION`, as a statement of its own, so its snapshot is taken after the lock (it
 * sees a zombie attempt's last batch) and the lock's wait is not under the timeouts.
 */
export const READ_CHECKPOINT_SET_TIMEOUTS = `SELECT pass, last_key, batches::text AS batches, done, stop_requested,
 set_config('lock_timeout', $4::text, true) AS lock_timeout, set_config('statement_timeout', $5::text, true) AS statement_timeout
 FROM ferry.backfill_checkpoints WHERE migration = $1::text AND run_id = $2::text AND partition = $3::int`;

/**
 * Backends waiting for a lock that this backend holds: the sessions a batch blocks, counted in
 * the batch's own transaction just before COMMIT. Row locks are held until COMMIT, so everyone
 * who queued behind one of the batch's rows is still waiting then. `pg_blocking_pids()` (no
 * privilege needed) is called only for the backends `pg_locks` shows waiting.
 */
export const COUNT_BLOCKED_BY_ME = `SELECT count(*)::int FROM (SELECT DISTINCT pid FROM pg_locks WHERE NOT granted) ferry_w
 WHERE pg_backend_pid() = ANY(pg_blocking_pids(ferry_w.pid))`;

/**
 * Records a batch: `$1..$3` the partition, `$4` new last key (null keeps it), `$5` scanned,
 * `$6` updated, `$7` failed, `$8` batch size, `$9` done; only if the checkpoint is still at pass
 * `$10` and batch count `$11`, as the batch found it. Returns `stop_requested` and `blocked` (the
 * sessions waiting for the batch's locks, `COUNT_BLOCKED_BY_ME`), or no row when something else
 * moved the checkpoint (the batch must roll back).
 */
export const ADVANCE_CHECKPOINT = `WITH ferry_advanced AS (UPDATE ferry.backfill_checkpoints SET
 last_key = COALESCE($4::text[], last_key), rows_scanned = rows_scanned + $5::bigint,
 rows_updated = rows_updated + $6::bigint, rows_failed = rows_failed + $7::bigint, batches = batches + 1,
 batch_size = $8::int, done = $9::boolean, updated_at = now()
 WHERE migration = $1::text AND run_id = $2::text AND partition = $3::int AND pass = $10::int AND batches = $11::bigint
 RETURNING stop_requested)
SELECT stop_requested, (${COUNT_BLOCKED_BY_ME}) AS blocked FROM ferry_advanced`;

/**
 * Records a row whose change failed (`$1` migration, `$2` run id, `$3` key, `$4` SQLSTATE,
 * `$5` error); returns `inserted` false when it was already recorded (a later pass).
 */
export const RECORD_FAILED_ROW = `INSERT INTO ferry.failed_rows AS f (migration, run_id, key, sqlstate, error)
 VALUES ($1::text, $2::text, $3::text[], $4::text, $5::text)
 ON CONFLICT (migration, run_id, key) DO UPDATE SET sqlstate = EXCLUDED.sqlstate, error = EXCLUDED.error, failed_at = now()
 RETURNING (xmax = 0) AS inserted`;

/** How many rows of a run (`$1`, `$2`) failed. */
export const COUNT_FAILED_ROWS = `SELECT count(*)::int AS n FROM ferry.failed_rows WHERE migration = $1::text AND run_id = $2::text`;

/** Asks every partition of a run (`$1`, `$2`) to stop after its current batch. */
export const REQUEST_STOP = `UPDATE ferry.backfill_checkpoints SET stop_requested = true
 WHERE migration = $1::text AND run_id = $2::text`;

/** Counters of a run (`$1`, `$2`) summed over its partitions. */
export const SUM_COUNTERS = `SELECT COALESCE(sum(rows_scanned), 0)::float8 AS rows_scanned,
 COALESCE(sum(rows_updated), 0)::float8 AS rows_updated, COALESCE(sum(rows_failed), 0)::float8 AS rows_failed,
 COALESCE(bool_and(done), false) AS done
 FROM ferry.backfill_checkpoints WHERE migration = $1::text AND run_id = $2::text`;
