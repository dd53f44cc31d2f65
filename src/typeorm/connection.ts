/**
 * The connection from the application's TypeORM DataSource: `FERRY_DATA_SOURCE=src/data-source.ts`
 * (or `--data-source`) instead of `DATABASE_URL`. ferry reads the DataSource's PostgreSQL options
 * (host, port, user, password, database, ssl, schema, url, extra) in the worker's (or the CLI's)
 * process; none of them goes to Temporal.
 */
import path from 'node:path';
import type { PoolConfig } from 'pg';
import type { DataSource } from 'typeorm';
import { FerryError } from '../contract/errors';
import { quoteIdent } from '../pg/quote';
import { maskUrl, urlSource, type PoolSource } from '../pg/pool';

/** The PostgreSQL options of a DataSource that ferry reads (TypeORM's PostgresConnectionOptions, in part). */
interface PostgresOptions {
  type: string;
  url?: string;
  host?: string;
  port?: number;
  username?: string;
  password?: PoolConfig['password'];
  database?: string;
  ssl?: PoolConfig['ssl'];
  schema?: string;
  connectTimeoutMS?: number;
  extra?: PoolConfig;
  replication?: { master: Omit<PostgresOptions, 'type' | 'replication'> };
}

const HINT =
  "Run ferry from the application's directory (tsx reads the tsconfig.json there, which must enable experimentalDecorators), " +
  'or point it at the compiled file (e.g. dist/data-source.js).';

/** Is `value` a TypeORM DataSource (TypeORM's own check: its `@instanceof` mark, so any copy of TypeORM counts)? */
export function isDataSource(value: unknown): value is DataSource {
  return typeof value === 'object' && value !== null && (value as Record<string, unknown>)['@instanceof'] === Symbol.for('DataSource');
}

/**
 * Loads the file that exports the application's DataSource, as TypeORM's CLI does (`-d`): the
 * module itself, or its one export that is a DataSource (or a promise of one).
 * @throws FerryError BAD_INPUT naming the file and `what` when it does not load or exports none or several.
 * @example const ds = await loadDataSource('src/data-source.ts')
 */
export async function loadDataSource(file: string, what = 'FERRY_DATA_SOURCE'): Promise<DataSource> {
  const full = path.resolve(file);
  let mod: unknown;
  try {
    mod = require(full);
  } catch (err) {
    throw new FerryError('BAD_INPUT', `${what}="${file}" does not load: ${(err as Error).message.split('\n')[0]}. ${HINT}`);
  }
  if (isDataSource(mod)) return mod;
  const found: DataSource[] = [];
  for (const value of Object.values((mod ?? {}) as Record<string, unknown>)) {
    const awaited = await value;
    if (isDataSource(awaited) && !found.includes(awaited)) found.push(awaited);
  }
  if (found.length !== 1) {
    throw new FerryError(
      'BAD_INPUT',
      `${what}="${file}" exports ${found.length ? `${found.length} DataSources` : 'no DataSource'}; ` +
        'export exactly one (e.g. export const AppDataSource = new DataSource({...})), as typeorm migration:run -d expects.',
    );
  }
  return found[0];
}

/**
 * pg pool settings from a DataSource's options, as TypeORM's PostgresDriver builds its own pool
 * (the replication master when there is one). `schema` becomes the search_path, so unqualified
 * names in a definition's SQL mean what they mean to the application.
 * @throws FerryError BAD_INPUT when the DataSource is not PostgreSQL.
 */
export function poolConfigOf(ds: DataSource, file: string): PoolConfig {
  const options = ds.options as unknown as PostgresOptions;
  if (options.type !== 'postgres') {
    throw new FerryError(
      'BAD_INPUT',
      `the DataSource in "${file}" is of type "${options.type}"; ferry migrates PostgreSQL only (type "postgres").`,
    );
  }
  const c = options.replication?.master ?? options;
  const config: PoolConfig = {
    ...defined({
      connectionString: c.url,
      host: c.host,
      port: c.port,
      user: c.username,
      password: c.password,
      database: c.database,
      ssl: c.ssl,
      connectionTimeoutMillis: options.connectTimeoutMS,
    }),
    ...(options.extra ?? {}), // last, as TypeORM's PostgresDriver merges it
  };
  const schema = options.schema;
  if (schema && schema !== 'public') config.options = `-c search_path=${escapeOption(`${quoteIdent(schema)},public`)}`;
  return config;
}

/** A value of libpq's `options` (`-c name=value`): spaces and backslashes escaped by a backslash. */
function escapeOption(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/ /g, '\\ ');
}

function defined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * Where the connection comes from, for messages: `FERRY_DATA_SOURCE=src/data-source.ts
 * (postgres://app:****@db:5432/app)`; never the password.
 */
function describe(config: PoolConfig, file: string, what: string): string {
  const target = config.connectionString
    ? maskUrl(config.connectionString)
    : `postgres://${config.user ?? ''}${config.password ? ':****' : ''}@${config.host ?? 'localhost'}:${config.port ?? 5432}/${config.database ?? ''}`;
  return `${what}=${file} (${target})`;
}

/**
 * The one seam where the worker, `ferry plan` and `ferry generate` get their connection settings:
 * the application's DataSource when `dataSource` (`--data-source`) or `FERRY_DATA_SOURCE` names
 * one, else `DATABASE_URL`.
 * @example const pool = createPool(await connectionSource(), { max: 2 })
 */
export async function connectionSource(dataSource?: string, env = process.env): Promise<PoolSource> {
  const file = dataSource ?? env.FERRY_DATA_SOURCE;
  if (!file) return urlSource(env.DATABASE_URL);
  const what = dataSource ? '--data-source' : 'FERRY_DATA_SOURCE';
  const config = poolConfigOf(await loadDataSource(file, what), file);
  return { config, label: describe(config, file, what), fix: `the DataSource in "${file}" (or the settings it reads)` };
}
