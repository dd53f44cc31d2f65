import type { Pool, PoolClient } from 'pg';

/**
 * `ferry.deploy_marks`: when the deploy signal was handled, per run: the transaction id then and
 * the table's largest key then. The dual-write probe reads rows inserted after it.
 */

/** A run's deploy mark: a 64-bit transaction id as text, and the largest key (text[]) or null for an empty table. */
export interface DeployMark {
  xid_mark: string;
  max_key: string[] | null;
}

/**
 * Records the deploy mark: the current transaction id and the table's largest key (the `SELECT`
 * of it, `maxKeySelect`, built by `maxKeySql`), for migration `$1`, run `$2`. The latest mark wins.
 * @example recordMarkSql('SELECT ARRAY[id::text] FROM "public"."orders" ORDER BY id DESC LIMIT 1')
 */
export function recordMarkSql(maxKeySelect: string): string {
  return `INSERT INTO ferry.deploy_marks (migration, run_id, xid_mark, max_key)
SELECT $1::text, $2::text, pg_current_xact_id()::text, (${maxKeySelect})
    ON CONFLICT (migration, run_id)
    DO UPDATE SET xid_mark = EXCLUDED.xid_mark, max_key = EXCLUDED.max_key, marked_at = now()
RETURNING xid_mark, max_key`;
}

/**
 * Records (or replaces) the deploy mark of a run and returns it.
 * @example const { xid_mark } = await recordMark(pool, maxKeySql(info), { migration: 'orders-total', runId })
 */
export async function recordMark(
  db: Pool | PoolClient,
  maxKeySelect: string,
  run: { migration: string; runId: string },
): Promise<DeployMark> {
  const { rows } = await db.query(recordMarkSql(maxKeySelect), [run.migration, run.runId]);
  return rows[0];
}

/**
 * The deploy mark of a run, or undefined when none was recorded.
 * @example const mark = await readMark(pool, { migration: 'orders-total', runId })
 */
export async function readMark(db: Pool | PoolClient, run: { migration: string; runId: string }): Promise<DeployMark | undefined> {
  const { rows } = await db.query('SELECT xid_mark, max_key FROM ferry.deploy_marks WHERE migration = $1::text AND run_id = $2::text', [
    run.migration,
    run.runId,
  ]);
  return rows[0];
}
