import type { Pool } from 'pg';
import { FerryError } from '../contract/errors';
import { withTransaction } from '../pg/transaction';
import type { RangeScanSql } from '../sql/verify';

/**
 * Range scans: a count over the whole key, one short read-only transaction per key range (the
 * statements come from `rangeCountSql` in `sql/verify.ts`). Verify and the dual-write probe use it.
 */

/** Running totals of a range scan, reported after each range. */
export interface RangeTotals {
  checkedRows: number;
  matchedRows: number;
  ranges: number;
}

/** Options of `countByRanges`. */
export interface CountByRangesOptions {
  migration: string;
  runId: string;
  /** Values of the `also` predicate's parameters (`$4`, ...). */
  extra?: unknown[];
  /** Rows per range (default 50000). */
  rangeSize?: number;
  /** `statement_timeout` of each range statement (default 60000 ms). */
  statementTimeoutMs?: number;
  /** Start after this key (exclusive) instead of at the first row. */
  startAfter?: string[] | null;
  /** Called after each range (activities heartbeat here; it may throw to stop the scan). */
  onRange?: (totals: RangeTotals) => void | Promise<void>;
}

/**
 * Runs a range scan to the end: one short read-only transaction per range, each under its own
 * `statement_timeout`, never one long scan (which would hold back vacuum for its whole length).
 * Rows inserted behind the cursor after it passed are not counted.
 * @example await countByRanges(pool, verifySql(table, where), { migration: 'm', runId: 'r' })
 * @throws FerryError BAD_INPUT when `rangeSize` is not a positive integer.
 */
export async function countByRanges(pool: Pool, sql: RangeScanSql, opts: CountByRangesOptions): Promise<RangeTotals> {
  const rangeSize = opts.rangeSize ?? 50_000;
  if (!Number.isInteger(rangeSize) || rangeSize < 1) {
    throw new FerryError('BAD_INPUT', `range size ${rangeSize} is not a positive integer; pass e.g. 50000.`);
  }
  const totals: RangeTotals = { checkedRows: 0, matchedRows: 0, ranges: 0 };
  let cursor: string[] | null = opts.startAfter ?? null;
  for (;;) {
    const params = [opts.migration, opts.runId, rangeSize, ...(opts.extra ?? []), ...(cursor ?? [])];
    const row = await readRange(pool, cursor ? sql.next : sql.first, params, opts.statementTimeoutMs ?? 60_000);
    if (row.checked === 0) return totals;
    totals.checkedRows += row.checked;
    totals.matchedRows += row.matched;
    totals.ranges++;
    await opts.onRange?.({ ...totals });
    if (row.checked < rangeSize) return totals;
    cursor = row.last_key;
  }
}

interface RangeRow {
  checked: number;
  matched: number;
  last_key: string[];
}

/** One range statement in a read-only transaction of its own, under `statement_timeout`. */
async function readRange(pool: Pool, text: string, params: unknown[], statementTimeoutMs: number): Promise<RangeRow> {
  const settings = { statement_timeout: `${statementTimeoutMs}ms` };
  return withTransaction(pool, async (client) => (await client.query(text, params)).rows[0], { readOnly: true, settings });
}
