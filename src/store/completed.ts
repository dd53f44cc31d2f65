import type { Pool, PoolClient } from 'pg';

/**
 * `ferry.completed_migrations`: migrations whose contract ran, the permanent record kept after
 * Temporal forgets the workflow.
 */

/** When a migration's contract ran, if it did. */
export interface CompletedRecord {
  specHash: string;
  completedAt: string;
}

/**
 * When a migration's contract ran, if it did: ferry's permanent record of it.
 * @example const done = await completedRecord(pool, 'orders-total') // { specHash, completedAt } | undefined
 */
export async function completedRecord(db: Pool | PoolClient, migration: string): Promise<CompletedRecord | undefined> {
  const { rows } = await db.query(`SELECT spec_hash, completed_at FROM ferry.completed_migrations WHERE migration = $1::text`, [migration]);
  return rows[0] ? { specHash: rows[0].spec_hash, completedAt: new Date(rows[0].completed_at).toISOString() } : undefined;
}

/**
 * Records that a migration's contract ran (idempotent: the first record stays).
 * @example await recordCompleted(pool, 'orders-total', specHash)
 */
export async function recordCompleted(db: Pool | PoolClient, migration: string, specHash: string): Promise<void> {
  await db.query(
    `INSERT INTO ferry.completed_migrations (migration, spec_hash) VALUES ($1::text, $2::text) ON CONFLICT (migration) DO NOTHING`,
    [migration, specHash],
  );
}
