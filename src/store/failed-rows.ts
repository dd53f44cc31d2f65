import type { Pool, PoolClient } from 'pg';
import type { RunRef } from '../contract/activities';

/**
 * `ferry.failed_rows`: the rows whose backfill change failed, skipped and kept with their error.
 * Keys are stored as `text[]` (`ARRAY[key::text, ...]`), as the backfill reads them.
 */

/**
 * Records a row whose change failed (`$1` migration, `$2` run id, `$3` key, `$4` SQLSTATE,
 * `$5` error); returns `inserted` false when it was already recorded (a later pass).
 */
export const RECORD_FAILED_ROW = `INSERT INTO ferry.failed_rows AS f (migration, run_id, key, sqlstate, error)
 VALUES ($1::text, $2::text, $3::text[], $4::text, $5::text)
 ON CONFLICT (migration, run_id, key) DO UPDATE SET sqlstate = EXCLUDED.sqlstate, error = EXCLUDED.error, failed_at = now()
 RETURNING (xmax = 0) AS inserted`;

/** How many rows of a run (`$1`, `$2`) failed. */
export const COUNT_FAILED_ROWS = `SELECT count(*)::int AS n FROM ferry.failed_rows WHERE migration = $1::text AND run_id = $2::text`;

/** A failed row: its key as text, the SQLSTATE (null for an error of `process`) and the error's text. */
export interface FailedRow {
  key: string[];
  sqlstate: string | null;
  error: string;
}

/**
 * Records a failed row of the run (in the caller's transaction); true when it is newly recorded,
 * false when an earlier pass recorded it (its error is updated).
 * @example await recordFailedRow(client, { name, runId }, { key: ['17'], sqlstate: '22P02', error: 'invalid input syntax' })
 */
export async function recordFailedRow(client: PoolClient, ref: RunRef, row: FailedRow): Promise<boolean> {
  const { rows } = await client.query(RECORD_FAILED_ROW, [ref.name, ref.runId, row.key, row.sqlstate, row.error]);
  return rows[0].inserted;
}

/** How many rows of the run are recorded as failed. */
export async function countFailedRows(db: Pool | PoolClient, ref: RunRef): Promise<number> {
  return (await db.query(COUNT_FAILED_ROWS, [ref.name, ref.runId])).rows[0].n;
}

/** The next `$4` recorded keys of a run (`$1`, `$2`) after key `$3` (null: from the first), in key order. */
export const LIST_FAILED_KEYS = `SELECT key FROM ferry.failed_rows
 WHERE migration = $1::text AND run_id = $2::text AND ($3::text[] IS NULL OR key > $3::text[])
 ORDER BY key LIMIT $4::int`;

/** Removes one recorded row of a run (`$1`, `$2`, key `$3`): its change now applies. */
export const DELETE_FAILED_ROW = `DELETE FROM ferry.failed_rows WHERE migration = $1::text AND run_id = $2::text AND key = $3::text[]`;

/**
 * The next `limit` recorded keys of the run after `after` (keyset over the table's primary key).
 * @example for (let keys = await listFailedKeys(pool, ref, null, 100); keys.length > 0; ...) {}
 */
export async function listFailedKeys(db: Pool | PoolClient, ref: RunRef, after: string[] | null, limit: number): Promise<string[][]> {
  return (await db.query(LIST_FAILED_KEYS, [ref.name, ref.runId, after, limit])).rows.map((r) => r.key);
}

/** Removes a recorded row of the run (in the caller's transaction); true when it was recorded. */
export async function deleteFailedRow(client: PoolClient, ref: RunRef, key: string[]): Promise<boolean> {
  return ((await client.query(DELETE_FAILED_ROW, [ref.name, ref.runId, key])).rowCount ?? 0) > 0;
}
