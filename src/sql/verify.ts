import type { KeyColumn } from '../pg/catalog';
import { quoteIdent } from '../pg/quote';

/** The table a range scan reads: `"schema"."name"` (quoted) and its key columns in order. */
export interface ScanTarget {
  quoted: string;
  key: KeyColumn[];
}

/**
 * The two statements of a range scan: the first range, and every range after a cursor; and the
 * key of the first row (`keyFirst`, no parameters) or of the row after a cursor (`keyNext`, the
 * cursor as `$1`..): how a scan steps past a row whose predicate cannot be evaluated.
 */
export interface RangeScanSql {
  first: string;
  next: string;
  keyFirst: string;
  keyNext: string;
}

/** Options of `rangeCountSql`. */
export interface RangeCountOptions {
  /** A predicate of ferry's own, AND-ed before the author's (its parameters start at `$4`). */
  also?: string;
  /** How many parameters `also` uses; the cursor's parameters come after them. */
  extraParams?: number;
}

/**
 * Builds the statements that count, over one key range, the rows matching `where` that are not
 * recorded in `ferry.failed_rows`. A range is the next `$3` rows in key order after the cursor
 * (keyset, never OFFSET), so each statement reads a bounded slice through the key's index.
 * The predicates are evaluated only for rows that are not recorded (a `CASE`, which PostgreSQL
 * evaluates lazily): a predicate may parse what the backfill could not (`doc::json->>'url'`)
 * without the recorded bad rows making the whole statement fail.
 *
 * Parameters: `$1` migration, `$2` run id, `$3` range size, then `opts.extraParams` of `also`,
 * then the cursor, one text value per key column, cast to the column's type (`next` only).
 * Result row: `checked` (rows in the range), `matched` (rows matching, failed rows excluded),
 * `last_key` (text[], the cursor for the next range; NULL when the range was empty).
 * Rows are keyed in `ferry.failed_rows` as `ARRAY[key::text, ...]`, as the backfill records them.
 *
 * @example rangeCountSql({ quoted: '"public"."posts"', key: [{ name: 'id', type: 'bigint' }] }, 'member_uuid IS NULL')
 */
export function rangeCountSql(target: ScanTarget, where: string, opts: RangeCountOptions = {}): RangeScanSql {
  const cols = target.key.map((k) => `${target.quoted}.${quoteIdent(k.name)}`);
  const firstCursor = 4 + (opts.extraParams ?? 0);
  const cursor = target.key.map((k, i) => `$${firstCursor + i}::${k.type}`);
  const author = `(\n${where}\n         )`;
  const predicate = opts.also ? `(${opts.also}\n         AND ${author})` : author;
  const key = `ARRAY[${cols.map((c) => `${c}::text`).join(', ')}]`;
  const build = (after: string) => `WITH page AS MATERIALIZED (
  SELECT ${key} AS ferry_key,
         ${cols.map((c, i) => `${c} AS ferry_k${i + 1}`).join(',\n         ')},
         CASE WHEN ${key} IN (
                SELECT f.key FROM ferry.failed_rows f WHERE f.migration = $1::text AND f.run_id = $2::text)
              THEN false
              ELSE ${predicate} IS TRUE
         END AS ferry_match
    FROM ${target.quoted}${after}
   ORDER BY ${cols.join(', ')}
   LIMIT $3::int
)
SELECT count(*)::int AS checked,
       count(*) FILTER (WHERE page.ferry_match)::int AS matched,
       (SELECT p.ferry_key FROM page p ORDER BY ${cols.map((_c, i) => `p.ferry_k${i + 1} DESC`).join(', ')} LIMIT 1) AS last_key
  FROM page`;
  const keyAfter = (after: string) => `SELECT ${key} AS key FROM ${target.quoted}${after} ORDER BY ${cols.join(', ')} LIMIT 1`;
  const ownCursor = target.key.map((k, i) => `$${1 + i}::${k.type}`);
  return {
    first: build(''),
    next: build(`\n   WHERE (${cols.join(', ')}) > (${cursor.join(', ')})`),
    keyFirst: keyAfter(''),
    keyNext: keyAfter(` WHERE (${cols.join(', ')}) > (${ownCursor.join(', ')})`),
  };
}

/**
 * The verify scan: per key range, the rows `where` (`verify.where ?? backfill.where`) calls
 * wrong, excluding recorded failed rows. Parameters: `$1` migration, `$2` run id, `$3` range
 * size, then the cursor (`next` only).
 * @example verifySql({ quoted: '"public"."posts"', key: [{ name: 'id', type: 'bigint' }] }, 'member_uuid IS NULL')
 */
export function verifySql(target: ScanTarget, where: string): RangeScanSql {
  return rangeCountSql(target, where);
}
