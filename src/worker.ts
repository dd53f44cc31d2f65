import { Connection } from '@temporalio/client';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import type { Pool } from 'pg';
import { createActivities } from './activities';
import { loadConfig, runSettings, type FerryConfig } from './config';
import { connectionError, createPool } from './pg/pool';
import { ddlDefaults } from './pg/ddl';
import { migrateStore } from './store/migrate';
import { metricsFromEnv, type FerryMetrics } from './metrics';
import { loadAllMigrations, migrationsDir, reloadMigrations, type LoadedMigration } from './definition/registry';
import { addSearchAttributes, missingMessage } from './client/search-attributes';
import { temporalConnectionOptions, temporalUnavailable, type ConnectionSummary } from './client/connect';
import { connectionSource } from './typeorm/connection';

/**
 * The workflow code a worker bundles: `src/workflows/index.ts` from source, `dist/workflows/index.js`
 * in the installed package (the SDK's bundler resolves @temporalio/workflow beside it).
 */
export const WORKFLOWS_PATH = require.resolve('./workflows');

/** What a ferry worker runs with. */
export interface FerryWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  pool: Pool;
  migrations: Map<string, LoadedMigration>;
  /** Rescans the migrations into `migrations` when a workflow names one the worker lacks. */
  reload?: () => void;
  /** Migration files that do not load (name → error): their activities fail saying so. */
  broken?: Map<string, string>;
  /** A prebuilt bundle (tests build one per file); default: bundle `workflows/`. */
  workflowBundle?: WorkerOptions['workflowBundle'];
  /** Prometheus metrics the activities record (see `metricsFromEnv`); absent: none. */
  metrics?: FerryMetrics;
}

/**
 * Creates a worker for every migration it is given. First brings ferry's own schema up to date
 * (`migrateStore`, once, under an advisory lock; no DDL when it is current), so activities never
 * create tables. Refuses to start when the database holds a newer ferry schema, or when files are
 * pending and the role may not apply them (run `ferry setup` as an owner role).
 * On shutdown (SIGTERM/SIGINT) running backfill chunks are cancelled at once, finish their
 * in-flight batch, checkpoint it and hand over to the next worker.
 */
export async function createFerryWorker(opts: FerryWorkerOptions): Promise<Worker> {
  const store = await migrateStore(opts.pool, { log: workerLog });
  workerLog(
    store.applied.length
      ? `store: schema upgraded from version ${store.from} to ${store.to} (${store.applied.map((v) => v.name).join(', ')})`
      : `store: schema up to date at version ${store.to}`,
  );
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: opts.taskQueue,
    ...(opts.workflowBundle ? { workflowBundle: opts.workflowBundle } : { workflowsPath: WORKFLOWS_PATH }),
    activities: createActivities({
      pool: opts.pool,
      migrations: opts.migrations,
      reload: opts.reload,
      broken: opts.broken,
      log: workerLog,
      metrics: opts.metrics,
    }),
    // Heartbeats carry the live progress that `ferry status` and the Web UI show: send them every
    // 2 s, not every 0.8 × heartbeat timeout (24 s by default).
    maxHeartbeatThrottleInterval: '2s',
    shutdownGraceTime: '1s',
    shutdownForceTime: '60s',
  });
}

function workerLog(message: string, fields?: Record<string, unknown>): void {
  console.log(`[ferry] ${message}${fields ? ` ${JSON.stringify(fields)}` : ''}`);
}

/**
 * Connects the worker the way the CLI connects (`temporalConnectionOptions`: Temporal's environment
 * configuration), after registering ferry's search attributes with a short-lived client connection.
 */
async function connectWorker(config: FerryConfig): Promise<{ connection: NativeConnection; summary: ConnectionSummary }> {
  const { options, summary } = temporalConnectionOptions(config);
  const unreachable = (err: unknown) => {
    throw temporalUnavailable(config.address, err, summary);
  };
  const client = await Connection.connect({ ...options, connectTimeout: '5s' }).catch(unreachable);
  try {
    // Without them migrations still run (their workflows upsert only those that exist): say so, go on.
    const { missing, error } = await addSearchAttributes(client, config.namespace);
    if (missing.length > 0) console.error(`[ferry] ${missingMessage(config.namespace, missing)} (adding them failed: ${error})`);
  } finally {
    await client.close();
  }
  return { connection: await NativeConnection.connect(options).catch(unreachable), summary };
}

/** How the worker connected, for its start-up line: never a key. */
function connectionWords(s: ConnectionSummary): string {
  const how = [s.tls ? 'TLS' : 'no TLS', s.clientCert ? `client certificate "${s.clientCert}"` : '', s.apiKey ? 'API key' : ''];
  return [`namespace "${s.namespace}"`, ...how.filter(Boolean)].join(', ');
}

/**
 * `ferry worker`: settings from the environment (the database from `DATABASE_URL`, or from the
 * application's TypeORM DataSource: `FERRY_DATA_SOURCE` or `opts.dataSource`); runs until SIGTERM or SIGINT. With
 * `FERRY_METRICS_PORT` set it serves Prometheus metrics at /metrics (on `FERRY_METRICS_HOST`, default 127.0.0.1).
 */
export async function runWorker(config: FerryConfig = loadConfig(), opts: { dataSource?: string } = {}): Promise<void> {
  // Settings from the environment first: a duration without its unit stops the worker here.
  runSettings();
  ddlDefaults();
  const dir = migrationsDir();
  const broken = new Map<string, string>();
  const migrations = loadAllMigrations(dir, broken);
  // One file that does not load must not stop the other migrations: log it and serve the rest.
  for (const [name, why] of broken) console.error(`[ferry] skipping migration "${name}", its file does not load: ${why}`);
  // DATABASE_URL, or the application's TypeORM DataSource (FERRY_DATA_SOURCE): read here, never sent to Temporal.
  const source = await connectionSource(opts.dataSource);
  const pool = createPool(source, {}, workerLog);
  try {
    await pool.query('SELECT 1');
  } catch (err) {
    await pool.end();
    throw connectionError(err, source);
  }
  const { connection, summary } = await connectWorker(config).catch(async (err) => {
    await pool.end();
    throw err;
  });
  const reload = () => reloadMigrations(migrations, dir, console.error, broken);
  const served = await metricsFromEnv();
  if (served) console.log(`ferry worker: metrics at http://${served.server.host}:${served.server.port}/metrics`);
  const { namespace, taskQueue } = config;
  const worker = await createFerryWorker({ connection, namespace, taskQueue, pool, migrations, reload, broken, metrics: served?.metrics });
  const skipped = broken.size ? `, skipping ${broken.size} that do not load (${[...broken.keys()].join(', ')})` : '';
  console.log(
    `ferry worker: ${migrations.size} migrations (${[...migrations.keys()].join(', ') || 'none'})${skipped} ` +
      `on task queue "${config.taskQueue}" at ${config.address} (${connectionWords(summary)})`,
  );
  try {
    await worker.run();
  } finally {
    await served?.server.close();
    await connection.close();
    await pool.end();
  }
}
