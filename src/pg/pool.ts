import { Pool, type PoolConfig } from 'pg';
import { FerryError } from '../contract/errors';

/**
 * The worker's connection pool, from `DATABASE_URL`. Connection settings never leave the worker:
 * they are not part of any workflow input, result or heartbeat.
 */
export function createPool(url = process.env.DATABASE_URL, extra: PoolConfig = {}): Pool {
  if (!url) {
    throw new FerryError(
      'BAD_INPUT',
      'DATABASE_URL is not set; the worker reads the database to migrate from it. Set it, e.g. DATABASE_URL=postgres://user@host:5432/app.',
    );
  }
  const pool = new Pool({ connectionString: url, max: 10, application_name: 'ferry', ...extra });
  pool.on('error', () => undefined); // an idle client's error must not crash the worker; the next query reports it
  return pool;
}
