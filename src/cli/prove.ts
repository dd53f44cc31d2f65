import { FerryError } from '../contract/errors';
import { describeTable } from '../pg/catalog';
import { createPool } from '../pg/pool';
import { connectionSource } from '../typeorm/connection';
import { proveMigration } from '../plan';
import type { LoadedMigration } from '../definition/registry';
import { databaseError } from './plan';

/**
 * What `ferry start` runs before a new run starts: the definition proved against the database (DATABASE_URL,
 * or the TypeORM DataSource of FERRY_DATA_SOURCE, as the worker connects) in
 * a transaction that is rolled back (`proveMigration`), so bad SQL is refused (exit 2) before the
 * expand. Without either the start goes on (a CI job may reach only Temporal) and says the
 * check was skipped; the worker still runs the same SQL at expand. A table locked by another
 * transaction does not stop the start either: the trial says so and the worker's expand waits.
 * @example await startMigration(fc, m, { ...opts, beforeStart: () => proveBeforeStart(m) })
 */
export async function proveBeforeStart(m: LoadedMigration, env = process.env): Promise<string> {
  if (!env.DATABASE_URL && !env.FERRY_DATA_SOURCE) {
    return 'not proved against the database: neither DATABASE_URL nor FERRY_DATA_SOURCE is set (set one so that ferry start tries the SQL first, as ferry plan does)';
  }
  const source = await connectionSource(undefined, env);
  const pool = createPool(source, { max: 1 });
  try {
    const info = await describeTable(pool, m.definition.table, m.definition.key);
    const { proof } = await proveMigration(pool, m, info);
    const skipped = proof.skipped.length ? `; not proved: ${proof.skipped.join('; ')}` : '';
    return `proved ${proof.checked.join(', ')} in a transaction that was rolled back${skipped}`;
  } catch (err) {
    const error = databaseError(m.name, err, source);
    // A lock another transaction holds (or a trial that ran too long) is not bad SQL: the start goes
    // on, and the worker's expand waits for the lock itself (short lock_timeout, retried).
    if (error instanceof FerryError && error.code === 'UNAVAILABLE')
      return `not proved now: ${error.message.replace(/ Run it again.*$/, '')}; the worker's expand waits for the lock (FERRY_LOCK_TIMEOUT, retried)`;
    throw error;
  } finally {
    await pool.end();
  }
}
