import type { Pool } from 'pg';

/**
 * `ferry.rate_budgets`: the token bucket of `backfill.rateLimit.perSecond`, one row per migration,
 * shared by every worker process that runs its partitions. One statement reserves calls: it moves
 * the bucket's `due` time forward by their cost, atomically (the row's lock serialises workers),
 * with the database's clock, and answers how long the caller waits before the first of them.
 */

/**
 * Reserves `$2` seconds of calls (calls / perSecond) for migration `$1`, allowing a burst of `$3`
 * seconds; returns `wait_ms`, how long until the first reserved call may go (≤ 0: at once).
 * GCRA: `due = max(due, now) + cost`; the first call goes at `due_before - burst`.
 */
export const RESERVE_CALLS = `WITH ferry_now AS (SELECT clock_timestamp() AS t)
INSERT INTO ferry.rate_budgets AS b (migration, due, updated_at)
 SELECT $1::text, t + make_interval(secs => $2::float8), t FROM ferry_now
ON CONFLICT (migration) DO UPDATE
 SET due = greatest(b.due, (SELECT t FROM ferry_now)) + make_interval(secs => $2::float8), updated_at = (SELECT t FROM ferry_now)
RETURNING (extract(epoch FROM (b.due - make_interval(secs => $2::float8) - make_interval(secs => $3::float8)
 - (SELECT t FROM ferry_now))) * 1000)::float8 AS wait_ms`;

/**
 * Reserves `calls` calls of the migration's budget of `perSecond` (bursts of `burst` calls allowed);
 * returns the milliseconds to wait before the first of them, 0 when it may go now. Runs on its own
 * (autocommit) so that the bucket's row is locked for one statement only.
 * @example const waitMs = await reserveCalls(pool, 'services-extract-url', { calls: 5, perSecond: 20, burst: 1 });
 */
export async function reserveCalls(pool: Pool, migration: string, r: { calls: number; perSecond: number; burst: number }): Promise<number> {
  const cost = r.calls / r.perSecond;
  const burst = Math.max(0, r.burst - 1) / r.perSecond; // a burst of 1: evenly spaced
  const { rows } = await pool.query(RESERVE_CALLS, [migration, cost, burst]);
  return Math.max(0, rows[0].wait_ms as number);
}
