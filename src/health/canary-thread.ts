import { Worker } from 'node:worker_threads';
import type { Pool } from 'pg';
import { COMMIT_PROBE_DELETE, COMMIT_PROBE_PRUNE, COMMIT_PROBE_UPSERT } from '../store/latency-probes';
import { probeKinds, type ProbeSample } from './latency-window';

/**
 * The latency canary's sampler in a thread of its own (`node:worker_threads`): its own event loop
 * and its own `pg.Client` per probe, so a sample's time is a round trip as an idle application
 * would see it, not the lag of the worker's main thread (busy parsing the backfill's batches and
 * running the Temporal SDK). Connecting, the session settings and one warm-up run are not timed.
 *
 * The read probe runs the application's `query` in READ ONLY transactions. The commit probe
 * (`commit: true`) runs `COMMIT_PROBE_UPSERT` (src/store/latency-probes.ts) on its own row of `ferry.latency_probes`, one
 * autocommit statement under `synchronous_commit = on` (set explicitly: the role's or database's
 * default may be off), so its round trip includes the WAL flush that the application's writes wait
 * for. A transaction that writes no WAL (`SELECT txid_current()`) is committed without waiting for
 * the flush: that is why the probe writes a real row. The thread deletes its row when stopped.
 *
 * The thread's code is a string run with `eval: true`, and it loads `pg` by the absolute path the
 * main thread resolved: that works alike from compiled `dist/`, from `src/` under tsx and under
 * jest, none of which would agree on a path to a `.ts` or `.js` file of ours. The connection
 * settings go to the thread in memory (`postMessage`); they never leave the process.
 */

/** One sample: the round trip in ms, or Infinity and why (fail closed); no `kind`: the thread itself failed. */
export type CanarySample = ProbeSample;

/** What the thread samples, and how often. */
export interface CanaryThreadSettings {
  /** The application's representative read; none: no read probe. */
  query?: string;
  /** Whether the commit probe runs. */
  commit: boolean;
  /** The migration's name, the first part of the commit probe's row key (with host, pid and thread id). */
  migration: string;
  everyMs: number;
  /** `statement_timeout` and `lock_timeout` of the canary's sessions; a slower sample is an error. */
  timeoutMs: number;
}

/** A running sampler thread. */
export interface CanaryThread {
  /** Asks the thread to delete its probe row, end its connections and exit; terminates it if it has not after a short wait. */
  stop(): void;
}

/** How long a stopping thread has to delete its probe row and end its connections before it is terminated. */
const STOP_GRACE_MS = 1000;

/**
 * The thread's code (plain CommonJS: it is not compiled). It waits for `{ type: 'config' }`, then
 * samples every `everyMs` (a tick is skipped while a sample is in flight): the read, then the
 * commit, each on its own client, and posts each sample with its `kind`; on `{ type: 'stop' }` it
 * deletes its probe row, ends its connections and closes its port, which lets it exit.
 */
export const CANARY_THREAD_SOURCE = String.raw`
const { parentPort, workerData, threadId } = require('node:worker_threads');
const os = require('node:os');
const pg = require(workerData.pgPath);
const { query, kinds, migration, everyMs, timeoutMs, upsertSql, deleteSql, pruneSql } = workerData;
// The commit probe's row: which migration, on which host, process and thread (no secrets).
const probe = migration + '@' + os.hostname() + ':' + process.pid + ':' + threadId;
let config, timer, busy = false, stopped = false;
let clients = {};

function withTimeout(promise, ms, what) {
  let t;
  const timeout = new Promise((_, reject) => {
    t = setTimeout(() => reject(new Error(what + ': no answer within ' + ms + ' ms')), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(t));
}

// A sample: the read (query mode 'extended', as an application's parameterised read) or one
// autocommit upsert of the probe's own row, whose round trip includes the commit's WAL flush.
function run(kind, c) {
  const sent = kind === 'read' ? c.query({ text: query, queryMode: 'extended' }) : c.query(upsertSql, [probe]);
  return withTimeout(sent, timeoutMs + 200, kind === 'read' ? 'query' : 'commit probe');
}

// Every statement of the read's session a READ ONLY transaction; the commit's session waits for
// the WAL flush whatever the role's or database's default; both under statement_timeout and lock_timeout.
function sessionSql(kind) {
  const ms = Math.ceil(timeoutMs);
  const first = kind === 'read' ? 'SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY' : 'SET synchronous_commit = on';
  return first + '; SET statement_timeout = ' + ms + '; SET lock_timeout = ' + ms;
}

// Untimed: connecting, the session's settings (the commit probe's also prunes dead probes' rows) and one warm-up run.
async function connect(kind) {
  const name = kind === 'read' ? 'ferry-latency-canary' : 'ferry-commit-probe';
  const c = new pg.Client({ ...config, application_name: name });
  c.on('error', () => undefined); // a dropped connection fails the next sample, which replaces it
  try {
    await withTimeout(c.connect(), Math.max(timeoutMs, 5000), 'connect');
    await c.query(sessionSql(kind));
    if (kind === 'commit') await c.query(pruneSql);
    await run(kind, c);
    return c;
  } catch (err) {
    c.end().catch(() => undefined);
    throw err;
  }
}

// The commit probe's missing table or privilege is ferry's setup, not the database's health.
function explain(kind, err) {
  const message = err instanceof Error ? err.message : String(err);
  const code = err && err.code;
  if (kind !== 'commit' || (code !== '42P01' && code !== '42501')) return message;
  return message + ' (the commit probe writes ferry.latency_probes: run ferry setup, with --grant-to the worker role)';
}

// Ends a client; the commit probe's first deletes its row.
async function close(kind, c) {
  if (kind === 'commit') await withTimeout(c.query(deleteSql, [probe]), timeoutMs + 200, 'delete').catch(() => undefined);
  await c.end().catch(() => undefined);
}

async function sample(kind) {
  if (stopped) return;
  try {
    const c = clients[kind] || (await connect(kind));
    if (stopped) return void close(kind, c); // stopped while connecting
    clients[kind] = c;
    const t0 = performance.now();
    await run(kind, c);
    if (!stopped) parentPort.postMessage({ kind, ms: performance.now() - t0 });
  } catch (err) {
    if (!stopped) parentPort.postMessage({ kind, ms: Infinity, error: explain(kind, err) });
    const broken = clients[kind];
    clients[kind] = undefined;
    if (broken) broken.end().catch(() => undefined);
  }
}

async function tick() {
  if (busy || stopped) return;
  busy = true;
  try {
    for (const kind of kinds) await sample(kind);
  } finally {
    busy = false;
  }
}

async function stop() {
  stopped = true;
  clearInterval(timer);
  const open = Object.entries(clients).filter(([, c]) => c);
  clients = {};
  await Promise.all(open.map(([kind, c]) => close(kind, c)));
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
 * @example
 * const settings = { query: 'SELECT 1', commit: true, migration: 'm', everyMs: 50, timeoutMs: 1000 };
 * const thread = startCanaryThread(pool, settings, record, () => undefined);
 */
export function startCanaryThread(
  pool: Pool,
  settings: CanaryThreadSettings,
  onSample: (sample: CanarySample) => void,
  onDeath: () => void,
): CanaryThread {
  const workerData = {
    pgPath: require.resolve('pg'),
    upsertSql: COMMIT_PROBE_UPSERT,
    deleteSql: COMMIT_PROBE_DELETE,
    pruneSql: COMMIT_PROBE_PRUNE,
    kinds: probeKinds(settings),
    ...settings,
  };
  const worker = new Worker(CANARY_THREAD_SOURCE, { eval: true, workerData });
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
