import type { StatementInfo, Touch } from '../pg/parse';
import type { TableFacts } from './catalog';

/**
 * How long a statement should hold its lock on a table: the table's size (`pg_relation_size` for a
 * scan or an index build, `pg_total_relation_size` for a rewrite, which also rebuilds every
 * index) divided by a rate. The rates were measured on ferry's 2-core test machine (PostgreSQL 15,
 * a 1,000,000-row table of 81 MB heap, 102 MB with indexes, cached): a full scan (count(*), CHECK
 * validation) ran at 430–570 MB/s, CREATE INDEX on a text column at 23 MB/s of heap, on an
 * integer column (CONCURRENTLY) at 57 MB/s, VACUUM FULL and ALTER COLUMN TYPE int → bigint at 8–10
 * MB/s of the total size. A cold cache or a slower disk is slower: the forecast is an order of
 * magnitude, not a promise (README, "How ferry forecasts DDL").
 */
export const RATES_MB_PER_S = { scan: 400, index: 25, rewrite: 8 } as const;

/** A forecast: seconds, and how they were computed. */
export interface Estimate {
  seconds: number;
  how: string;
}

const MB = 1024 * 1024;

/**
 * The forecast for one lock of a statement, or undefined when it touches no rows.
 * @example estimate(info, 'scan', facts) // { seconds: 0.2, how: '81 MB heap ÷ 400 MB/s (sequential scan)' }
 */
export function estimate(info: StatementInfo, touch: Touch, facts: TableFacts): Estimate | undefined {
  if (touch === 'none') return undefined;
  const building = info.index?.create === true;
  const [bytes, what, rate, label] = building
    ? [facts.heapBytes, 'heap', RATES_MB_PER_S.index, info.index?.concurrent ? 'index build, CONCURRENTLY: two scans' : 'index build']
    : touch === 'rewrite'
      ? [facts.totalBytes, 'with indexes', RATES_MB_PER_S.rewrite, 'rewrite of the table and its indexes']
      : [facts.heapBytes, 'heap', RATES_MB_PER_S.scan, 'sequential scan'];
  const factor = building && info.index?.concurrent ? 2 : 1;
  const seconds = Math.round((bytes / MB / rate) * factor * 10) / 10;
  return { seconds, how: `${formatMb(bytes)} ${what} ÷ ${rate} MB/s${factor > 1 ? ' × 2' : ''} (${label})` };
}

function formatMb(bytes: number): string {
  const mb = bytes / MB;
  return mb >= 1024 ? `${(mb / 1024).toFixed(1)} GB` : mb >= 10 ? `${Math.round(mb)} MB` : `${mb.toFixed(1)} MB`;
}
