import type { Pool } from 'pg';
import { HEALTHY, unhealthy, CURRENT_DB_OID, type HealthCheck, type HealthVerdict } from './check';

/**
 * Vacuums in progress on the table `$1` (quoted name, cast to regclass) in this database, with
 * the kind of backend running them. `relid` is null for vacuums the worker's role may not see
 * (autovacuum runs as the bootstrap superuser): those count too, so the check fails closed.
 */
export const READ_VACUUMS = `SELECT COALESCE(a.backend_type, 'unknown') AS backend_type, p.relid IS NULL AS hidden
  FROM pg_stat_progress_vacuum p
  LEFT JOIN pg_stat_activity a ON a.pid = p.pid
 WHERE p.datid = ${CURRENT_DB_OID} AND (p.relid IS NULL OR p.relid = $1::text::regclass)`;

/**
 * Unhealthy while (auto)vacuum runs on the table: the backfill's dead tuples are what it is
 * cleaning, and both compete for I/O (GitLab holds batched migrations for it). Off with
 * `backfill.health.autovacuum: false`.
 * @example autovacuumCheck('"public"."posts"') // reason: autovacuum on "public"."posts"
 */
export function autovacuumCheck(quotedTable: string): HealthCheck {
  return {
    kind: 'autovacuum',
    label: 'autovacuum check',
    async run(pool: Pool): Promise<HealthVerdict> {
      const rows: { backend_type: string; hidden: boolean }[] = (await pool.query(READ_VACUUMS, [quotedTable])).rows;
      if (rows.length === 0) return HEALTHY;
      if (rows.every((r) => r.hidden)) {
        return unhealthy('autovacuum', `a vacuum this role cannot see is running; grant pg_monitor to the worker's role`);
      }
      const auto = rows.some((r) => !r.hidden && r.backend_type === 'autovacuum worker');
      return unhealthy('autovacuum', `${auto ? 'autovacuum' : 'vacuum'} on ${quotedTable}`);
    },
  };
}
