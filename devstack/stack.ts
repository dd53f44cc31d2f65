/**
 * The whole local stack ferry needs: a Temporal dev server and a PostgreSQL, each reused when one
 * is already running and started otherwise. Used by `ferry dev`, the demo, the tests and the benchmarks.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ensureDevServer, type DevServer } from './dev-server';
import { ensurePostgres, type Postgres } from './postgres';

type Log = (line: string) => void;
const defaultLog: Log = (line) => console.error(`ferry: ${line}`);

/** A running stack. `stop()` stops only what `startStack` started. */
export interface Stack {
  /** gRPC address of the Temporal frontend, e.g. `127.0.0.1:7233`. */
  temporalAddress: string;
  namespace: string;
  /** Temporal Web UI, e.g. `http://127.0.0.1:8233`. */
  uiUrl: string;
  /** Admin PostgreSQL URL (superuser, database `postgres`). */
  databaseUrl: string;
  startedTemporal: boolean;
  startedPostgres: boolean;
  stop(): Promise<void>;
}

/** Options of {@link startStack}. */
export interface StackOptions {
  /** Where the Temporal db, its log and a private PostgreSQL cluster live. Default `$FERRY_STATE_DIR` or `<cwd>/.ferry`. */
  stateDir?: string;
  /** Default `$FERRY_TEMPORAL_PORT` or 7233. */
  temporalPort?: number;
  /** Default `$FERRY_UI_PORT` or 8233. */
  uiPort?: number;
  log?: Log;
}

/** A port number from the environment variable `name`, or undefined when it is unset. */
function portFromEnv(name: string): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return undefined;
  const port = Number(raw);
  if (Number.isInteger(port) && port > 0 && port < 65536) return port;
  throw new Error(`${name} is "${raw}", which is not a port number; set it to an integer from 1 to 65535, or unset it.`);
}

/** Awaits both; if either fails, stops the one that came up and rethrows the first failure. */
async function bothOrNeither(a: Promise<DevServer>, b: Promise<Postgres>): Promise<[DevServer, Postgres]> {
  const [ra, rb] = await Promise.allSettled([a, b]);
  if (ra.status === 'fulfilled' && rb.status === 'fulfilled') return [ra.value, rb.value];
  await Promise.allSettled([ra, rb].map((r) => (r.status === 'fulfilled' ? r.value.stop() : undefined)));
  throw ra.status === 'rejected' ? ra.reason : (rb as PromiseRejectedResult).reason;
}

/**
 * Brings up Temporal (`<stateDir>/temporal.db`) and PostgreSQL in parallel, reusing servers that
 * already answer. Idempotent across processes: a second call while the first stack runs reuses it.
 *
 * @example
 * const stack = await startStack();
 * process.env.TEMPORAL_ADDRESS = stack.temporalAddress;
 * process.env.DATABASE_URL = stack.databaseUrl;
 * // ... run workers and migrations ...
 * await stack.stop();
 */
export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const log = opts.log ?? defaultLog;
  const stateDir = path.resolve(opts.stateDir ?? (process.env.FERRY_STATE_DIR || path.join(process.cwd(), '.ferry')));
  fs.mkdirSync(stateDir, { recursive: true });
  const namespace = 'default';
  const [temporal, postgres] = await bothOrNeither(
    ensureDevServer({
      port: opts.temporalPort ?? portFromEnv('FERRY_TEMPORAL_PORT'),
      uiPort: opts.uiPort ?? portFromEnv('FERRY_UI_PORT'),
      dbFile: path.join(stateDir, 'temporal.db'),
      namespace,
      log,
    }),
    ensurePostgres({ stateDir, log }),
  );
  return {
    temporalAddress: temporal.address,
    namespace,
    uiUrl: temporal.uiUrl,
    databaseUrl: postgres.url,
    startedTemporal: temporal.started,
    startedPostgres: postgres.started,
    stop: async () => {
      await Promise.all([temporal.stop(), postgres.stop()]);
    },
  };
}
