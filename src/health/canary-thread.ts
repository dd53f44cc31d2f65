import { Worker } from 'node:worker_threads';
import pg, { type ClientConfig, type Pool } from 'pg';
import { COMMIT_PROBE_DELETE, COMMIT_PROBE_PRUNE, COMMIT_PROBE_UPSERT } from '../store/latency-probes';
import { probeKinds, type ProbeKind, type ProbeSample } from './latency-window';

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
 *
 * A thread receives only what structured clone can copy, and pg's settings may hold functions that
 * change how it connects: `stream` (a connector's or a proxy's socket, e.g. the Cloud SQL Node
 * connector's), `ssl.checkServerIdentity`. Without them the canary would connect elsewhere, or not
 * at all, and hold the backfill throttled. So when the settings hold one (other than `password`,
 * which is resolved before it is sent), the same code runs on the main thread instead, with the
 * settings as they are: its samples then include the main thread's lag.
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

/** A running sampler: a thread, or the same code on the main thread (see `functionFields`). */
export interface CanaryThread {
  /**
   * The paths of the connection settings' function-valued fields (e.g. `stream`,
   * `ssl.checkServerIdentity`) that keep the sampler on the main thread; empty: it runs in a thread.
   */
  functionFields: string[];
  /** Asks the thread to delete its probe row, end its connections and exit; terminates it if it has not after a short wait. */
  stop(): void;
}

/** How long a stopping thread has to delete its probe row and end its connections before it is terminated. */
const STOP_GRACE_MS = 1000;

/**
 * The thread's code (plain CommonJS: it is not compiled). It waits for `{ type: 'config' }`, then
 * samples every `everyMs` (a tick is skipped while a sample is in flight): the read, then the
 * commit, each on its own client, and posts each sample with its `kind`; on `{ type: 'stop' }` it
 * deletes its probe row, ends its connections and closes its port, which lets it exit. Its timers
 * are unref'd: a thread's open port keeps it up until then, and on the main thread (`onMainThread`)
 * they must not keep the process up.
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
    t.unref();
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
    timer.unref();
    tick();
  }
  if (m.type === 'stop') stop();
});
`;

/** What the thread's code reads from `workerData`: the settings, the probe's SQL and where `pg` is. */
type CanaryData = CanaryThreadSettings & { pgPath: string; upsertSql: string; deleteSql: string; pruneSql: string; kinds: ProbeKind[] };

/** What the owner tells the thread's code: its connection settings (it starts), or to stop. */
type OwnerMessage = { type: 'config'; config: Record<string, unknown> } | { type: 'stop' };

/** A sampler as its owner drives it, in a thread (`inThread`) or on the main thread (`onMainThread`). */
interface Sampler {
  start(config: Record<string, unknown>): void;
  stop(): void;
}

/**
 * Starts the sampler for `settings` with `pool`'s connection settings; each sample goes to
 * `onSample`. It runs in a thread unless the settings hold functions a thread cannot receive
 * (`functionFields`), then on the main thread. A thread that fails or exits unasked counts as a
 * failed sample, then `onDeath` is called (the owner starts a new one when next wanted).
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
  const fields = functionFields(poolOptions(pool));
  let stopping = false;
  const died = (why: string): void => {
    if (stopping) return;
    stopping = true;
    onSample({ ms: Infinity, error: `latency canary thread ${why}` });
    onDeath();
  };
  const deliver = (sample: CanarySample): void => {
    if (!stopping) onSample(sample);
  };
  const sampler = fields.length === 0 ? inThread(canaryData(settings), deliver, died) : onMainThread(canaryData(settings), deliver);
  // On the main thread the settings go as they are, functions and all; a thread gets a copy it can receive.
  const config = fields.length === 0 ? connectionConfig(pool) : Promise.resolve(Object.fromEntries(ownFields(poolOptions(pool))));
  config.then((c) => sampler.start(c)).catch((err: unknown) => (died(`has no connection settings: ${messageOf(err)}`), sampler.stop()));
  return {
    functionFields: fields,
    stop() {
      if (stopping) return;
      stopping = true;
      sampler.stop();
    },
  };
}

/** The thread's `workerData` for `settings`. */
function canaryData(settings: CanaryThreadSettings): CanaryData {
  const sql = { upsertSql: COMMIT_PROBE_UPSERT, deleteSql: COMMIT_PROBE_DELETE, pruneSql: COMMIT_PROBE_PRUNE };
  return { pgPath: require.resolve('pg'), ...sql, kinds: probeKinds(settings), ...settings };
}

/** The sampler in a thread of its own; a failure or an exit it was not asked for is `died`. */
function inThread(data: CanaryData, onMessage: (sample: CanarySample) => void, died: (why: string) => void): Sampler {
  const worker = new Worker(CANARY_THREAD_SOURCE, { eval: true, workerData: data });
  // Undone by the 'message' listener below, which refs the worker again: a sampling thread does keep the process up.
  worker.unref();
  worker.on('message', onMessage);
  worker.on('error', (err) => died(`failed: ${err.message}`));
  worker.on('exit', (code) => died(`exited (code ${code})`));
  return {
    start: (config) => worker.postMessage({ type: 'config', config }),
    stop() {
      worker.postMessage({ type: 'stop' });
      setTimeout(() => void worker.terminate(), STOP_GRACE_MS).unref();
    },
  };
}

/** Samplers this process has run on its main thread: each names its probe row apart, as a thread's id does. */
let mainThreadSamplers = 0;

/**
 * The thread's own code (`CANARY_THREAD_SOURCE`, so there is one sampler to maintain) run on the
 * main thread: its `node:worker_threads` is a stand-in whose port hands its samples to `onMessage`
 * and the owner's messages to it, and its `pg` makes clients whose sockets, like its timers, do not
 * keep the process up while it samples. Once asked to stop, the process waits for it (at most
 * STOP_GRACE_MS), as for a stopping thread: its probe row's DELETE may be queued behind a sample.
 * Its errors are failed samples, as in the thread; there is no thread to die or terminate.
 */
function onMainThread(data: CanaryData, onMessage: (sample: CanarySample) => void): Sampler {
  const listeners: ((message: OwnerMessage) => void)[] = [];
  let stopping: NodeJS.Timeout | undefined;
  const parentPort = {
    on: (_event: 'message', listener: (message: OwnerMessage) => void) => void listeners.push(listener),
    postMessage: onMessage,
    // It has deleted its row and ended its connections.
    close: () => (listeners.splice(0), clearTimeout(stopping)),
  };
  const threadId = `main-${(mainThreadSamplers += 1)}`;
  const modules: Record<string, unknown> = {
    'node:worker_threads': { parentPort, workerData: data, threadId },
    [data.pgPath]: { Client: UnrefClient },
  };
  new Function('require', CANARY_THREAD_SOURCE)((id: string) => modules[id] ?? require(id));
  const send = (message: OwnerMessage): void => [...listeners].forEach((listener) => listener(message));
  return {
    start: (config) => send({ type: 'config', config }),
    stop() {
      stopping = setTimeout(() => undefined, STOP_GRACE_MS);
      send({ type: 'stop' });
    },
  };
}

/** pg's Client whose socket does not keep the process up, for the main thread's sampler; a stream without `unref` is left as it is. */
class UnrefClient extends pg.Client {
  constructor(config: ClientConfig) {
    super(config);
    (this.connection.stream as { unref?: () => void }).unref?.();
  }
}

/**
 * Function-valued settings that do not change how a connection is made, so a thread may go
 * without them: a `password` function (resolved before it is sent), the pool's own hooks (`log`,
 * `verify`, `onConnect`, `Client`, `Promise`) and result parsing (`types`): the canary only times
 * round trips.
 */
const NOT_FOR_CONNECTING = new Set(['password', 'log', 'verify', 'onConnect', 'Client', 'Promise', 'types']);

/**
 * The paths of `config`'s function-valued fields that change how pg connects, at any depth of its
 * plain objects and arrays: what a thread cannot receive and cannot go without (`NOT_FOR_CONNECTING` aside).
 * @example functionFields({ password: () => 's', stream: () => socket, ssl: { checkServerIdentity } }) // ['stream', 'ssl.checkServerIdentity']
 */
export function functionFields(config: Record<string, unknown>): string[] {
  return functionPaths(config, '').filter((path) => !NOT_FOR_CONNECTING.has(path.split('.')[0]));
}

/** The paths under `path` of `value`'s function-valued fields (`value` itself: `path`). */
function functionPaths(value: unknown, path: string): string[] {
  if (typeof value === 'function') return [path];
  const fields = Array.isArray(value) ? value.map((v, i): [string, unknown] => [String(i), v]) : isPlain(value) ? ownFields(value) : [];
  return fields.flatMap(([key, v]) => functionPaths(v, path ? `${path}.${key}` : key));
}

/**
 * The pool's connection settings as a structured-cloneable object: function-valued fields dropped
 * (at any depth, e.g. `ssl.checkServerIdentity`), a `password` function (which pg allows) resolved,
 * the fields pg-pool hides (`password`, `ssl.key`) kept.
 */
export async function connectionConfig(pool: Pool): Promise<Record<string, unknown>> {
  const options = poolOptions(pool);
  const { password } = options;
  const config = withoutFunctions(options) as Record<string, unknown>;
  if (typeof password === 'function') config.password = await (password as () => string | Promise<string>)();
  return config;
}

/** The settings the pool gives each client it connects. */
function poolOptions(pool: Pool): Record<string, unknown> {
  return (pool as unknown as { options: Record<string, unknown> }).options;
}

/** `value` with every function-valued field of its plain objects and arrays left out. */
function withoutFunctions(value: unknown): unknown {
  if (Array.isArray(value)) return value.filter((v) => typeof v !== 'function').map(withoutFunctions);
  if (!isPlain(value)) return value;
  const entries = ownFields(value).filter(([, v]) => typeof v !== 'function');
  return Object.fromEntries(entries.map(([k, v]) => [k, withoutFunctions(v)]));
}

/** Whether `value` is a plain object (`{ ... }`), not a class's instance (a socket, a Buffer). */
function isPlain(value: unknown): value is object {
  return value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype;
}

/**
 * An object's own fields, the ones pg-pool hides included: it makes `password` and `ssl.key`
 * non-enumerable (out of logs), which a spread or `Object.entries` would leave out.
 */
function ownFields(value: object): [string, unknown][] {
  return Object.getOwnPropertyNames(value).map((key) => [key, (value as Record<string, unknown>)[key]]);
}

/** An error's message, or the thrown value as text. */
function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
