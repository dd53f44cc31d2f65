import type { Pool } from 'pg';
import { HEALTHY, unhealthy, CURRENT_DB_OID, type HealthCheck, type HealthVerdict } from './check';

/**
 * Backends of this database waiting for a lock (any heavyweight lock: a row's transaction, the
 * table itself, ...) while holding or requesting a lock on the table `$1` (its quoted name, cast
 * to regclass). An application UPDATE queued behind a row lock holds RowExclusiveLock on the
 * table; an ALTER TABLE queued for AccessExclusiveLock requests one. ferry's own connection is left
 * out. Cheaper than `pg_blocking_pids()` per backend, which takes the lock manager's locks per call.
 */
export const COUNT_BLOCKED = `SELECT count(DISTINCT w.pid)::int AS blocked
  FROM pg_locks w
 WHERE NOT w.granted AND w.pid <> pg_backend_pid()
   AND EXISTS (SELECT 1 FROM pg_locks t
                WHERE t.pid = w.pid AND t.locktype IN ('relation', 'tuple')
                  AND t.database = ${CURRENT_DB_OID} AND t.relation = $1::text::regclass)`;

/**
 * Unhealthy while more than `max` backends are blocked on locks involving the table
 * (`backfill.health.maxBlockedBackends`, default 0: any).
 * @example blockedBackendsCheck('"public"."posts"', 0) // reason: 2 backends blocked on "public"."posts"
 */
export function blockedBackendsCheck(quotedTable: string, max: number): HealthCheck {
  return {
    kind: 'locks',
    label: 'lock check',
    async run(pool: Pool): Promise<HealthVerdict> {
      const blocked: number = (await pool.query(COUNT_BLOCKED, [quotedTable])).rows[0].blocked;
      if (blocked <= max) return HEALTHY;
      const what = `${blocked} ${blocked === 1 ? 'backend' : 'backends'} blocked on ${quotedTable}`;
      return unhealthy('locks', max === 0 ? what : `${what} (more than ${max})`);
    },
  };
}
