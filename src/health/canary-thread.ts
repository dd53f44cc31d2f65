import { Worker } from 'node:worker_threads';
import type { Pool } from 'pg';

/**
 * The latency canary's sampler in a thread of its own (`node:worker_threads`): its own event loop
 * and its own `pg.Client`, so a sample's time is the query's round trip as an idle application
 * would see it, not the lag of the worker's main thread (busy parsing the backfill's batches and
 * running the Temporal SDK). Connecting, the session settings and one warm-up query are not timed.
 *
 * The thread's code is a string run with `eval: true`, and it loads `pg` by the absolute path the
 * main thread resolved: that works alike from compiled `dist/`, from `src/` under tsx and under
 * jest, none of which would agree on a path to a `.ts` or `.js` file of ours. The connection
 * settings go to the thread in memory (`postMessage`); they never leave the process.
 */

/** One sample: the round trip in ms, or Infinity and why (fail closed). */
export interface CanarySample {
  ms: number;
  error?: string;
}

/** What the thread samples, and how often. */
export interface CanaryThreadSettings {
  query: string;
  everyMs: number;
  /** `statement_timeout` and `lock_timeout` of the canary's session; a slower sample is an error. */
  timeoutMs: number;
}

/** A running sampler thread. */
export interface CanaryThread {
  /** Asks the thread to end its connection and exit; terminates it if it has not after a short wait. */
  stop(): void;
}

/** How long a stopping thread has to end its connection before it is terminated. */
const STOP_GRACE_MS = 1000;

/**
 * The thread's code (plain CommonJS: it is not compiled). It waits for `{ type: 'config' }`, then
 * samples every `everyMs` (a tick is skipped while a sample is in flight) and posts each sample;
 * on `{ type: 'stop' }` it ends its connection and closes its port, which lets it exit.
 */
export const CANARY_THREAD_SOURCE = String.raw`
const { parentPort, workerData } = require('node:worker_threads');
const pg = require(workerData.pgPath);
const { query, everyMs, timeoutMs } = workerData;
let config, client, timer, busy = false, stopped = false;

function withTimeout(promise, ms, what) {
  let t;
  const timeout = new Promise((_, reject) => {
    t = setTimeout(() => reject(new Error(what + ': no answer within ' + ms + ' ms')), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(t));
}

const run = (c) => withTimeout(c.query({ text: query, queryMode: 'extended' }), timeoutMs + 200, 'query');

// Untimed: connecting, the session's settings (every statement a READ ONLY transaction under
// statement_timeout and lock_timeout) and one warm-up run of the query.
async function connect() {
  const c = new pg.Client({ ...config, application_name: 'ferry-latency-canary' });
  c.on('error', () => undefined); // a dropped connection fails the next sample, which replaces it
  try {
    await withTimeout(c.connect(), Math.max(timeoutMs, 5000), 'connect');
    const ms = Math.ceil(timeoutMs);
    await c.query('SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY; SET statement_timeout = ' + ms + '; SET lock_timeout = ' + ms);
    await run(c);
    return c;
  } catch (err) {
    c.end().catch(() => undefined);
    throw err;
  }
}

async function tick() {
  if (busy || stopped) return;
  busy = true;
  try {
    client = client || (await connect());
    if (stopped) return void client.end().catch(() => undefined); // stopped while connecting
    const t0 = performance.now();
    await run(client);
    if (!stopped) parentPort.postMessage({ ms: performance.now() - t0 });
  } catch (err) {
    if (!stopped) parentPort.postMessage({ ms: Infinity, error: err instanceof Error ? err.message : String(err) });
    const broken = client;
    client = undefined;
    if (broken) broken.end().catch(() => undefined);
  } finally {
    busy = false;
  }
}

async function stop() {
  stopped = true;
  clearInterval(timer);
  const c = client;
  client = undefined;
  if (c) await c.end().catch(() => undefined);
  parentPort.close();
}

parentPort.on('message', (m) => {
  if (m.type === 'config' && !stopped) {
    config = m.config;
    timer = setInterval(tick, everyMs);
    tick();
  }
  if (m.type === 'stop') stop();
});
`;

/**
 * Starts the sampler thread for `settings` with `pool`'s connection settings; each sample goes to
 * `onSample`. A thread that fails or exits unasked counts as a failed sample, then `onDeath` is
 * called (the owner starts a new one when next wanted). The thread is unref'd: it does not keep
 * the process up.
 * @example const thread = startCanaryThread(pool, { query: 'SELECT 1', everyMs: 50, timeoutMs: 1000 }, record, () => undefined);
 */
export function startCanaryThread(
  pool: Pool,
  settings: CanaryThreadSettings,
  onSample: (sample: CanarySample) => void,
  onDeath: () => void,
): CanaryThread {
  const worker = new Worker(CANARY_THREAD_SOURCE, { eval: true, workerData: { pgPath: require.resolve('pg'), ...settings } });
  worker.unref();
  let stopping = false;
  const died = (why: string): void => {
    if (stopping) return;
    stopping = true;
    onSample({ ms: Infinity, error: `latency canary thread ${why}` });
    onDeath();
  };
  worker.on('message', (sample: CanarySample) => {
    if (!stopping) onSample(sample);
  });
  worker.on('error', (err) => died(`failed: ${err.message}`));
  worker.on('exit', (code) => died(`exited (code ${code})`));
  const stop = (): void => {
    worker.postMessage({ type: 'stop' });
    setTimeout(() => void worker.terminate(), STOP_GRACE_MS).unref();
  };
  connectionConfig(pool)
    .then((config) => worker.postMessage({ type: 'config', config }))
    .catch((err: unknown) => (died(`has no connection settings: ${err instanceof Error ? err.message : String(err)}`), stop()));
  return {
    stop() {
      if (stopping) return;
      stopping = true;
      stop();
    },
  };
}

/**
 * The pool's connection settings as a structured-cloneable object: function-valued fields dropped
 * (at any depth, e.g. `ssl.checkServerIdentity`), a `password` function (which pg allows) resolved.
 */
export async function connectionConfig(pool: Pool): Promise<Record<string, unknown>> {
  const options = (pool as unknown as { options: Record<string, unknown> }).options;
  const { password } = options;
  const config = withoutFunctions(options) as Record<string, unknown>;
  if (typeof password === 'function') config.password = await (password as () => string | Promise<string>)();
  return config;
}

/** `value` with every function-valued field of its plain objects and arrays left out. */
function withoutFunctions(value: unknown): unknown {
  if (Array.isArray(value)) return value.filter((v) => typeof v !== 'function').map(withoutFunctions);
  if (value === null || typeof value !== 'object' || Object.getPrototypeOf(value) !== Object.prototype) return value;
  const entries = Object.entries(value).filter(([, v]) => typeof v !== 'function');
  return Object.fromEntries(entries.map(([k, v]) => [k, withoutFunctions(v)]));
}
