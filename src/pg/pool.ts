import { Pool, type PoolClient, type PoolConfig } from 'pg';
import { FerryError } from '../contract/errors';

/** The worker's log, for what connections do (a lost one, the latency canary's): a message and fields, never the URL or row data. */
export type ConnectionLog = (message: string, fields?: Record<string, unknown>) => void;

/**
 * Where a pool's connection settings come from: `DATABASE_URL`, or the application's TypeORM
 * DataSource (`FERRY_DATA_SOURCE`, read by src/typeorm/connection.ts). `label` names it in
 * messages (password masked); `fix` is what to set when it is wrong.
 */
export interface PoolSource {
  config: PoolConfig;
  label: string;
  fix: string;
}

/**
 * The settings of a `DATABASE_URL`, as a PoolSource.
 * @throws FerryError BAD_INPUT when `url` is not set (naming FERRY_DATA_SOURCE, the other way).
 */
export function urlSource(url = process.env.DATABASE_URL): PoolSource {
  if (!url) {
    throw new FerryError(
      'BAD_INPUT',
      'DATABASE_URL is not set; the worker reads the database to migrate from it. Set it, e.g. DATABASE_URL=postgres://user@host:5432/app, ' +
        "or FERRY_DATA_SOURCE to the file that exports the application's TypeORM DataSource.",
    );
  }
  return { config: { connectionString: url }, label: `DATABASE_URL=${maskUrl(url)}`, fix: 'DATABASE_URL' };
}

/**
 * The worker's connection pool, from `DATABASE_URL` or another source (a TypeORM DataSource, see
 * src/typeorm/connection.ts). Connection settings never leave the worker: they are not part of any
 * workflow input, result or heartbeat.
 *
 * A connection PostgreSQL drops (`pg_terminate_backend`, a restart, a failover) never crashes the
 * worker: an idle client's error is handled by the pool, and a checked-out client gets its own
 * `'error'` listener (pg emits the error on the client when no query is running on it, and an
 * unhandled `'error'` event ends the process). The statement running on it fails with the error;
 * the client is discarded (`releaseAfter`) and the pool connects anew for the next one.
 * @example const pool = createPool(process.env.DATABASE_URL, {}, (m, f) => console.log(m, f))
 */
export function createPool(
  source: string | PoolSource | undefined = process.env.DATABASE_URL,
  extra: PoolConfig = {},
  log?: ConnectionLog,
): Pool {
  const { config } = typeof source === 'object' ? source : urlSource(source);
  const pool = new Pool({ ...config, max: 10, application_name: 'ferry', ...extra });
  guardConnections(pool, log);
  return pool;
}

/**
 * A connection URL for messages: the password replaced by `****`.
 * @example maskUrl('postgres://app:secret@db:5432/app') // 'postgres://app:****@db:5432/app'
 */
export function maskUrl(url: string | undefined): string {
  if (!url) return '(not set)';
  try {
    const u = new URL(url);
    if (u.password) u.password = '****';
    return u.toString();
  } catch {
    return url.replace(/\/\/([^:/@]*):[^@]*@/, '//$1:****@');
  }
}

/** SQLSTATEs of a connection that DATABASE_URL cannot fix by retrying: the role, its password, the database. */
const BAD_URL: Record<string, string> = {
  '28000': 'the role may not connect',
  '28P01': 'the password was refused',
  '3D000': 'the database does not exist',
};

/** Network errors: nothing answered at the address. */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ECONNRESET']);

/**
 * Turns an error from connecting with DATABASE_URL (or another PoolSource) into a one-line
 * FerryError naming where the settings came from (password masked) and the next step: a bad role,
 * password or database is BAD_INPUT (exit 2), a server that does not answer is UNAVAILABLE
 * (exit 1). Other errors are returned unchanged.
 * @example await pool.query('SELECT 1').catch((e) => { throw connectionError(e) })
 */
export function connectionError(err: unknown, source: string | PoolSource | undefined = process.env.DATABASE_URL): unknown {
  const e = err as { code?: string; message?: string } | null;
  const label = typeof source === 'object' ? source.label : `DATABASE_URL=${maskUrl(source)}`;
  const fix = typeof source === 'object' ? source.fix : 'DATABASE_URL';
  const where = `PostgreSQL at ${label}`;
  if (e?.code && e.code in BAD_URL) {
    return new FerryError('BAD_INPUT', `${where}: ${e.message} (${BAD_URL[e.code]}); fix ${fix} and run the command again.`);
  }
  if (e?.code && UNREACHABLE.has(e.code)) {
    return new FerryError(
      'UNAVAILABLE',
      `${where} did not answer (${e.message}); start PostgreSQL ("ferry dev" starts one locally) or fix ${fix}.`,
    );
  }
  return err;
}

/**
 * Makes every client of `pool` survive its connection being dropped: idle or checked out, the
 * `'error'` event is logged (when `log` is given) instead of crashing the process.
 * @example guardConnections(pool, workerLog)
 */
export function guardConnections(pool: Pool, log?: ConnectionLog): void {
  pool.on('error', () => undefined); // idle clients: also reported by the client's own listener below
  pool.on('connect', (client: PoolClient) =>
    client.on('error', (err: Error) => log?.('postgres: connection lost; it is discarded and the pool reconnects', { error: err.message })),
  );
}
