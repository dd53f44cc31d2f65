import type { Pool } from 'pg';
import { FerryError } from '../contract/errors';
import { sqlstate } from '../pg/errors';
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
  /**
   * A row whose predicate raises a data error (SQLSTATE class 22, e.g. invalid JSON in a row the
   * backfill has not recorded yet): `'match'` counts it (verify: not proven right, so a catch-up
   * pass visits it and records it), `'skip'` does not (the probe: not a sign of old-shape writes).
   * Either way the scan steps past it. Default `'match'`.
   */
  unevaluable?: 'match' | 'skip';
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
  const timeoutMs = opts.statementTimeoutMs ?? 60_000;
  let cursor: string[] | null = opts.startAfter ?? null;
  // Halved down to single rows around a row whose predicate raises a data error, then back up.
  let size = rangeSize;
  for (;;) {
    const params = [opts.migration, opts.runId, size, ...(opts.extra ?? []), ...(cursor ?? [])];
    const row = await readRange(pool, cursor ? sql.next : sql.first, params, timeoutMs).catch((err: unknown) => {
      if (!sqlstate(err)?.startsWith('22')) throw err;
      return undefined;
    });
    if (row === undefined && size > 1) {
      size = Math.ceil(size / 2);
      continue;
    }
    if (row === undefined) {
      // The next row alone raises: step past it.
      const key = await readKey(pool, cursor ? sql.keyNext : sql.keyFirst, cursor ?? [], timeoutMs);
      if (key === undefined) return totals;
      totals.checkedRows += 1;
      if (opts.unevaluable !== 'skip') totals.matchedRows += 1;
      cursor = key;
      continue;
    }
    if (row.checked === 0) return totals;
    totals.checkedRows += row.checked;
    totals.matchedRows += row.matched;
    totals.ranges++;
    await opts.onRange?.({ ...totals });
    if (row.checked < size) return totals;
    cursor = row.last_key;
    size = Math.min(rangeSize, size * 2);
  }
}

/** The key of the row after `cursor` (or the first row), in a read-only transaction of its own. */
async function readKey(pool: Pool, text: string, cursor: string[], statementTimeoutMs: number): Promise<string[] | undefined> {
  const settings = { statement_timeout: `${statementTimeoutMs}ms` };
  return withTransaction(pool, async (client) => (await client.query(text, cursor)).rows[0]?.key, { readOnly: true, settings });
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
