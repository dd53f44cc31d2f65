import type { Pool, PoolClient } from 'pg';
import { FerryError } from '../contract/errors';
import { parseTableName, quoteTable, type TableName } from './quote';

/** A key column and its SQL type, e.g. `{ name: 'id', type: 'bigint' }`. */
export interface KeyColumn {
  name: string;
  type: string;
}

/** What ferry needs to know about the table it migrates. */
export interface TableInfo extends TableName {
  /** `"schema"."name"`, quoted. */
  quoted: string;
  /** The columns batches page by, in order. */
  key: KeyColumn[];
  /** Rows estimated from planner statistics (never `count(*)`). */
  estimatedRows: number;
}

type Db = Pool | PoolClient;

/**
 * Looks the table up in the catalog: its key (the primary key, or `keyOverride`) with types, and
 * its estimated row count.
 * @throws FerryError TABLE_NOT_FOUND, NO_PRIMARY_KEY or BAD_INPUT (an override names a missing column).
 */
export async function describeTable(db: Db, table: string, keyOverride?: string[]): Promise<TableInfo> {
  const name = parseTableName(table);
  const quoted = quoteTable(name);
  const oid = await tableOid(db, name, quoted);
  const key = keyOverride ? await columnsByName(db, oid, quoted, keyOverride) : await primaryKey(db, oid, quoted);
  return { ...name, quoted, key, estimatedRows: await estimateRows(db, oid) };
}

async function tableOid(db: Db, name: TableName, quoted: string): Promise<number> {
  const { rows } = await db.query(
    `SELECT c.oid::int AS oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1::text AND c.relname = $2::text AND c.relkind IN ('r', 'p')`,
    [name.schema, name.name],
  );
  if (rows.length === 0) {
    throw new FerryError('TABLE_NOT_FOUND', `table ${quoted} does not exist; create it first or fix "table" in the migration.`);
  }
  return rows[0].oid;
}

async function primaryKey(db: Db, oid: number, quoted: string): Promise<KeyColumn[]> {
  const { rows } = await db.query(
    `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type
       FROM pg_index i
       JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) ON true
       JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
      WHERE i.indrelid = $1::oid AND i.indisprimary
      ORDER BY k.ord`,
    [oid],
  );
  if (rows.length === 0) {
    throw new FerryError(
      'NO_PRIMARY_KEY',
      `table ${quoted} has no primary key; backfill pages by one. Add a primary key or set "key" in the migration.`,
    );
  }
  return rows;
}

async function columnsByName(db: Db, oid: number, quoted: string, names: string[]): Promise<KeyColumn[]> {
  const { rows } = await db.query(
    `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type
       FROM unnest($2::text[]) WITH ORDINALITY AS k(name, ord)
       JOIN pg_attribute a ON a.attrelid = $1::oid AND a.attname = k.name AND NOT a.attisdropped
      ORDER BY k.ord`,
    [oid, names],
  );
  if (rows.length !== names.length) {
    const found = new Set(rows.map((r) => r.name));
    const missing = names.filter((n) => !found.has(n));
    throw new FerryError('BAD_INPUT', `table ${quoted} has no column "${missing[0]}"; fix "key" in the migration.`);
  }
  return rows;
}

/**
 * Rows estimated from statistics, summed over the table's leaf partitions (a plain table is its
 * own leaf). Once analyzed, `reltuples`; when the table has grown since by inserts only (more
 * pages than ANALYZE saw, no dead rows), scaled as the planner does: `reltuples / relpages` × the
 * pages it has now (`pg_relation_size`). Pages grown by updates hold dead rows, so then
 * `reltuples` stands. `n_live_tup` is used only before the first ANALYZE (`reltuples` < 0): it
 * overcounts after updates until autovacuum (every row of a table updated in full counted twice).
 * @example await estimateRows(pool, oid) // 150040 for a 150,040-row table just updated in full
 */
export async function estimateRows(db: Db, oid: number): Promise<number> {
  const { rows } = await db.query(
    `SELECT COALESCE(sum(CASE
              WHEN c.reltuples < 0 OR (c.relpages = 0 AND c.reltuples = 0) THEN COALESCE(s.n_live_tup, 0)
              WHEN c.relpages > 0 AND COALESCE(s.n_dead_tup, 0) = 0
                THEN c.reltuples / c.relpages * GREATEST(c.relpages, pg_relation_size(c.oid) / current_setting('block_size')::float8)
              ELSE c.reltuples
            END), 0)::float8 AS rows
       FROM (SELECT relid FROM pg_partition_tree($1::regclass) WHERE isleaf
             UNION ALL -- a plain table has no partition tree: it is its own leaf
             SELECT $1::regclass WHERE NOT EXISTS (SELECT FROM pg_partition_tree($1::regclass))) t
       JOIN pg_class c ON c.oid = t.relid
       LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid`,
    [oid],
  );
  return Math.round(rows[0].rows);
}
