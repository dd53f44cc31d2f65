import type { Pool } from 'pg';
import { estimateRows } from '../pg/catalog';
import { ddlDefaults } from '../pg/ddl';
import { LOCK_NOT_AVAILABLE, sqlstate } from '../pg/errors';
import { notNullColumnsOf, type Hazard, type Relation } from '../pg/parse';
import { quoteIdent, quoteTable } from '../pg/quote';
import { withTransaction } from '../pg/transaction';

/**
 * The catalog facts the dangerous-form checks need, read without a lock any application waits
 * for: the table's size and whether it has rows, its validated `CHECK (col IS NOT NULL)`
 * constraints, whether a column type change is binary coercible, whether functions are volatile.
 */

/** A table a statement names, as the catalog knows it (absent: it does not exist yet). */
export interface TableFacts {
  oid: number;
  /** `"schema"."name"`. */
  quoted: string;
  /** Rows: planner statistics, or 1 when never analyzed but not empty. */
  rows: number;
  hasRows: boolean;
  /** Heap bytes (`pg_relation_size`) and with indexes and TOAST (`pg_total_relation_size`). */
  heapBytes: number;
  totalBytes: number;
  /** Columns proven NOT NULL by a validated CHECK constraint. */
  notNullChecks: string[];
  /** Constraint names on the table. */
  constraints: string[];
}

/** `name` or `"schema"."name"`, quoted, for `to_regclass`. */
export function qualified(r: Relation): string {
  return r.schema ? `${quoteIdent(r.schema)}.${quoteIdent(r.name)}` : quoteIdent(r.name);
}

/**
 * The table's facts, or undefined when it does not exist (a table the same list creates). Rows:
 * the planner's estimate as `ferry plan` shows it (`estimateRows`: statistics, scaled to the pages the
 * table has now), and a cheap `EXISTS` under the DDL lock_timeout when the statistics say none.
 * @example await tableFacts(pool, { name: 'posts' })
 */
export async function tableFacts(pool: Pool, r: Relation): Promise<TableFacts | undefined> {
  const { rows } = await pool.query(
    `SELECT c.oid::int AS oid, n.nspname AS schema, c.relname AS name,
            pg_relation_size(c.oid)::float8 AS heap, pg_total_relation_size(c.oid)::float8 AS total,
            ARRAY(SELECT pg_get_constraintdef(k.oid) FROM pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'c' AND k.convalidated) AS checks,
            ARRAY(SELECT k.conname::text FROM pg_constraint k WHERE k.conrelid = c.oid) AS constraints
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass($1::text)`,
    [qualified(r)],
  );
  const row = rows[0];
  if (!row) return undefined;
  const quoted = quoteTable({ schema: row.schema, name: row.name });
  const estimated = await estimateRows(pool, row.oid);
  const hasRows = estimated > 0 || (await anyRow(pool, quoted));
  return {
    oid: row.oid,
    quoted,
    rows: estimated || (hasRows ? 1 : 0),
    hasRows,
    heapBytes: row.heap,
    totalBytes: row.total,
    notNullChecks: await notNullColumnsOf(row.checks),
    constraints: row.constraints,
  };
}

/** `EXISTS (SELECT FROM t)`: reads one page. A lock that is not granted in time counts as rows (the careful answer). */
async function anyRow(pool: Pool, quoted: string): Promise<boolean> {
  const settings = { lock_timeout: `${ddlDefaults().lockTimeoutMs}ms`, statement_timeout: '10s' };
  try {
    return await withTransaction(pool, async (c) => (await c.query(`SELECT EXISTS (SELECT FROM ${quoted}) AS any`)).rows[0].any, {
      readOnly: true,
      settings,
    });
  } catch (err) {
    if (sqlstate(err) === LOCK_NOT_AVAILABLE) return true;
    throw err;
  }
}

/** The table an index belongs to (for DROP INDEX), or undefined. */
export async function indexTable(pool: Pool, index: Relation): Promise<Relation | undefined> {
  const { rows } = await pool.query(
    `SELECT n.nspname AS schema, c.relname AS name FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace WHERE i.indexrelid = to_regclass($1::text)`,
    [qualified(index)],
  );
  return rows[0];
}

const VARLEN = new Set([1043, 1562]); // varchar, varbit: typmod is a length
const PRECISION = new Set([1083, 1114, 1184, 1266]); // time, timestamp, timestamptz, timetz: typmod is a precision
const NUMERIC = 1700;

/**
 * Whether `ALTER COLUMN ... TYPE` keeps the table's data as it is (PostgreSQL then rewrites
 * nothing): the same type with a wider or removed limit (varchar(n) → varchar(m ≥ n) or
 * unlimited, numeric(p,s) → numeric(q ≥ p,s), timestamp(p) → timestamp(q ≥ p), varbit), or a
 * binary-coercible cast (`pg_cast.castmethod = 'b'`: varchar → text, text → varchar, cidr → inet)
 * to a type without a limit. A USING clause, an array or an unknown type counts as a rewrite.
 * @returns undefined when it rewrites nothing, else why it rewrites.
 */
export async function typeChangeRewrites(pool: Pool, facts: TableFacts, h: Hazard): Promise<string | undefined> {
  const t = h.type;
  if (!t) return 'unknown type';
  if (t.using) return 'a USING clause computes every row again';
  if (t.array) return 'an array type';
  const { rows } = await pool.query(
    `SELECT a.atttypid::int AS old, a.atttypmod AS oldmod, format_type(a.atttypid, a.atttypmod) AS was, to_regtype($3::text)::oid::int AS new,
            (SELECT castmethod FROM pg_cast WHERE castsource = a.atttypid AND casttarget = to_regtype($3::text)) AS method
       FROM pg_attribute a WHERE a.attrelid = $1::oid AND a.attname = $2::text AND NOT a.attisdropped`,
    [facts.oid, h.column, t.names.map(quoteIdent).join('.')],
  );
  const r = rows[0];
  if (!r) return `column "${h.column}" is not in the table yet`;
  if (!r.new) return `type ${t.names.join('.')} is not known to the database yet`;
  const mods = t.typmods ?? [];
  if (r.old !== r.new) return r.method === 'b' && mods.length === 0 ? undefined : `${r.was} is not binary coercible to the new type`;
  return widens(r.old, r.oldmod, mods) ? undefined : `the new limit of ${r.was} must check or convert every row`;
}

function widens(oid: number, oldmod: number, mods: number[]): boolean {
  if (mods.length === 0) return VARLEN.has(oid) || PRECISION.has(oid) || oid === NUMERIC || oldmod === -1;
  if (oldmod === -1) return false;
  if (oid === 1043) return mods[0] + 4 >= oldmod;
  if (oid === 1562 || PRECISION.has(oid)) return mods[0] >= oldmod;
  if (oid === NUMERIC) {
    const [p, s = 0] = mods;
    return s === ((oldmod - 4) & 0xffff) && p >= (oldmod - 4) >> 16;
  }
  return false;
}

/**
 * Whether a default calls a volatile function (`pg_proc.provolatile = 'v'`, any overload of the
 * name): PostgreSQL then computes it for every row, a rewrite. A function not found counts as volatile.
 * @returns the volatile (or unknown) function, or undefined.
 */
export async function volatileFunction(pool: Pool, functions: string[][]): Promise<string | undefined> {
  for (const parts of functions) {
    const name = parts[parts.length - 1];
    const schema = parts.length > 1 ? parts[parts.length - 2] : null;
    const { rows } = await pool.query(
      `SELECT bool_or(p.provolatile = 'v') AS volatile FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE p.proname = $1::text AND ($2::text IS NULL OR n.nspname = $2::text)`,
      [name, schema],
    );
    if (rows[0].volatile !== false) return parts.join('.');
  }
  return undefined;
}
