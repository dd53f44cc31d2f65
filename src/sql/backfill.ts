import type { TableInfo } from '../pg/catalog';
import { inlineInteger, inlineLiteral, quoteIdent } from '../pg/quote';

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

/**
 * How a statement takes the `n`-th value of a key range (from 1), cast to the key column's `type`:
 * as a `$n` parameter (`asParameter`, the default), or as a literal (`asLiterals`) in a statement
 * that must go by the simple protocol, which takes no parameters.
 */
export type BoundValue = (n: number, type: string) => string;

/** `$3::bigint`: the value as parameter `$n`. */
export const asParameter: BoundValue = (n, type) => `$${n}::${type}`;

/**
 * `'42'::bigint`: the `n`-th of `values` as a literal (`inlineLiteral`), for the simple protocol.
 * @throws Error when there is no `n`-th value.
 */
export function asLiterals(values: readonly string[]): BoundValue {
  return (n, type) => {
    if (n < 1 || n > values.length) throw new Error(`key range value ${n} is missing (${values.length} given)`);
    return `${inlineLiteral(values[n - 1])}::${type}`;
  };
}

/** `$3::bigint` or `($3::int, $4::text)`: a bound of `width` key columns as cast values from the `first`-th. */
export function keyParams(table: TableInfo, width: number, first: number, value: BoundValue = asParameter): string {
  const casts = table.key.slice(0, width).map((c, i) => value(first + i, c.type));
  return casts.length === 1 ? casts[0] : `(${casts.join(', ')})`;
}

/**
 * The conditions of a key range, `["id" > $1::bigint, "id" <= $2::bigint]`, with values from
 * `first` on: the lower bound's values, then the upper bound's.
 */
export function keyRange(
  table: TableInfo,
  shape: RangeShape,
  first = 1,
  value: BoundValue = asParameter,
): { conditions: string[]; next: number } {
  const conditions: string[] = [];
  let next = first;
  if (shape.lower > 0) {
    conditions.push(`${keyTuple(table, shape.lower)} > ${keyParams(table, shape.lower, next, value)}`);
    next += shape.lower;
  }
  if (shape.upper > 0) {
    conditions.push(`${keyTuple(table, shape.upper)} <= ${keyParams(table, shape.upper, next, value)}`);
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
 * The next window of keys as `windowSelect`, its bounds and `limit` as literals, and `gate` (an SQL
 * boolean, parenthesised) among its conditions: `SELECT <key> FROM t WHERE <range> AND <gate> ORDER BY <key> LIMIT 2000`.
 */
export function literalWindowSelect(
  table: TableInfo,
  range: { shape: RangeShape; values: readonly string[] },
  limit: number,
  gate: string,
): string {
  const conditions = [...keyRange(table, range.shape, 1, asLiterals(range.values)).conditions, gate];
  return `SELECT ${keyColumns(table)} FROM ${table.quoted}${whereClause(conditions)} ORDER BY ${keyOrder(table)} LIMIT ${inlineInteger(limit)}`;
}

/**
 * Key types whose `max()` orders as `ORDER BY` does (same operator class, the column's collation).
 * uuid, boolean and others have no `max()` before PostgreSQL 16, so they keep the sort.
 */
const MAX_TYPES =
  /^(smallint|integer|bigint|numeric(\(.*\))?|text|character varying(\(\d+\))?|date|timestamp(\(\d\))? with(out)? time zone)$/;

/**
 * `(SELECT ARRAY[..] FROM <cte> ...)`: the last key of a CTE, as text[], null when it is empty.
 * A single-column key of a `MAX_TYPES` type takes `max()` (an aggregate, no sort); any other key
 * `ORDER BY <key> DESC LIMIT 1`.
 */
export function lastKeyOf(table: TableInfo, cte: string): string {
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

/**
 * Process mode on chosen rows: the rows with the given keys that still match `where`, locked and
 * keyed as `buildSelectRows` returns them (a recorded failed row re-run by `retryFailedRows`).
 * Parameters: one `text[]` per key column (column-wise, equal lengths).
 */
export function buildSelectRowsByKeys(table: TableInfo, sql: BackfillSql): Statement {
  const arrays = table.key.map((_c, i) => `$${i + 1}::text[]`).join(', ');
  const aliases = table.key.map((_c, i) => `k${i + 1}`).join(', ');
  const casts = table.key.map((c, i) => `k.k${i + 1}::${c.type}`).join(', ');
  const text =
    `SELECT *, ${keyAsText(table)} AS ${quoteIdent(ROW_KEY_COLUMN)} FROM ${table.quoted}` +
    ` WHERE ${keyTuple(table)} IN (SELECT ${casts} FROM unnest(${arrays}) AS k(${aliases})) AND (${sql.where})` +
    ` ORDER BY ${keyOrder(table)} FOR NO KEY UPDATE`;
  return { text, params: table.key.length };
}

/** `{ min, max }` of the first key column as text: the span an integer key is split over. */
export function buildFirstKeySpan(table: TableInfo): Statement {
  const first = quoteIdent(table.key[0].name);
  return { text: `SELECT min(${first})::text AS min, max(${first})::text AS max FROM ${table.quoted}`, params: 0 };
}

/**
 * The table's last key in key order (as `key text[]`; no row when the table is empty): where a
 * backfill pass ends. One step down the key's index. Keys with a NULL are left out (a `key` of
 * nullable columns): a NULL bound would match nothing, and keyset paging never reaches them anyway.
 */
export function buildLastKey(table: TableInfo): Statement {
  const notNull = table.key.map((c) => `${quoteIdent(c.name)} IS NOT NULL`).join(' AND ');
  const text = `SELECT ${keyAsText(table)} AS key FROM ${table.quoted} WHERE ${notNull} ORDER BY ${keyOrder(table, ' DESC')} LIMIT 1`;
  return { text, params: 0 };
}

/**
 * A cheap sample of keys (as `key text[]`, in key order): `TABLESAMPLE SYSTEM ($1)` with $1 the
 * percentage of pages to read. Used to split a non-integer key into partitions.
 */
export function buildSampleKeys(table: TableInfo): Statement {
  const text = `SELECT ${keyAsText(table)} AS key FROM ${table.quoted} TABLESAMPLE SYSTEM ($1::float8)` + ` ORDER BY ${keyOrder(table)}`;
  return { text, params: 1 };
}
