/**
 * The latency canary's sampler where the pool's connection settings hold functions a thread cannot
 * receive (a connector's `stream`, `ssl.checkServerIdentity`): the same sampler runs on the main
 * thread with the settings as they are, says so once in the log, stops as the thread does and does
 * not keep the process up. Without functions it still runs in a thread.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import pg from 'pg';
import {
  connectionConfig,
  functionFields,
  startCanaryThread,
  type CanarySample,
  type CanaryThreadSettings,
} from '../../src/health/canary-thread';
import { latencyCanary } from '../../src/health/latency';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { delay } from '../helpers/backfill';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase('canary_thread');
  await db.pool.query('CREATE TABLE items (id int PRIMARY KEY, note text)');
  await db.pool.query(`INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 10) g`);
});
afterAll(() => db?.drop());

const SETTINGS = { query: 'SELECT note FROM items WHERE id = 7', commit: true, everyMs: 10, timeoutMs: 1000 };

/**
 * pg's `stream` as a connector or a proxy gives it: a socket to the test's PostgreSQL (or to
 * `port`), whatever address pg asks for (pg calls `connect(port, host)` on the stream it gets).
 */
function streamTo(port = Number(new URL(db.url).port || 5432)): () => net.Socket {
  const host = new URL(db.url).hostname;
  return () => {
    const socket = new net.Socket();
    const connect = socket.connect.bind(socket);
    socket.connect = (() => connect(port, host)) as typeof socket.connect;
    return socket;
  };
}

/** A pool whose host and port answer nothing: it connects only through its `stream`. */
function streamedPool(stream: () => net.Socket, extra: pg.PoolConfig = {}): pg.Pool {
  const user = decodeURIComponent(new URL(db.url).username) || 'postgres';
  return new pg.Pool({ host: '127.0.0.1', port: 1, user, database: db.name, stream, ...extra });
}

/** The canary's sessions open on the test's database. */
async function canarySessions(): Promise<number> {
  const { rows } = await db.pool.query(
    `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND application_name IN ('ferry-latency-canary', 'ferry-commit-probe')`,
    [db.name],
  );
  return rows[0].n;
}

/** A sampler on `pool` with SETTINGS and `extra`, and the samples it posts. */
function sampling(pool: pg.Pool, extra: Partial<CanaryThreadSettings> & { migration: string }) {
  const samples: CanarySample[] = [];
  const record = (sample: CanarySample) => samples.push(sample);
  return { samples, thread: startCanaryThread(pool, { ...SETTINGS, ...extra }, record, () => undefined) };
}

/** The commit probes' rows' keys. */
const probeRows = async () => (await db.pool.query('SELECT probe FROM ferry.latency_probes ORDER BY probe')).rows.map((r) => r.probe);

describe('which settings keep the canary on the main thread', () => {
  it("lists function-valued fields at any depth by path, but not a password function nor the pool's hooks", () => {
    const fn = () => undefined;
    const config = { host: 'h', password: fn, stream: fn, ssl: { ca: 'x', checkServerIdentity: fn }, hosts: [{ lookup: fn }] };
    expect(functionFields(config)).toEqual(['stream', 'ssl.checkServerIdentity', 'hosts.0.lookup']);
    expect(functionFields({ connectionString: 'postgres://h/d', password: 's', ssl: { ca: Buffer.from('x') }, max: 10 })).toEqual([]);
    expect(functionFields({ password: async () => 's' })).toEqual([]);
    // The pool's own hooks and result parsing do not change how a connection is made.
    const hooks = { log: fn, verify: fn, onConnect: fn, Client: fn, Promise: fn, types: { getTypeParser: fn } };
    expect(functionFields({ connectionString: 'postgres://h/d', ...hooks })).toEqual([]);
  });

  it('sends a thread the settings pg-pool hides: a password and the ssl key', async () => {
    const pool = new pg.Pool({ host: 'h', password: 'not-a-secret', ssl: { key: 'K', cert: 'C' } });
    try {
      expect(await connectionConfig(pool)).toMatchObject({ host: 'h', password: 'not-a-secret', ssl: { key: 'K', cert: 'C' } });
    } finally {
      await pool.end();
    }
  });
});

describe('the canary on the main thread', () => {
  it('connects through a stream function as the pool does, times both probes, and on stop deletes its row and ends its sessions', async () => {
    const pool = streamedPool(streamTo());
    const { samples, thread } = sampling(pool, { migration: 'streamed' });
    try {
      await until(() => samples.filter((s) => s.kind === 'commit').length >= 5, 10_000);
      expect(samples.filter((s) => !Number.isFinite(s.ms))).toEqual([]);
      expect(samples.filter((s) => s.kind === 'read').length).toBeGreaterThanOrEqual(4);
      expect(samples.filter((s) => s.kind === 'commit').length).toBeGreaterThanOrEqual(5);
      expect(thread.functionFields).toEqual(['stream']);
      expect(await probeRows()).toEqual([expect.stringMatching(new RegExp(`^streamed@.+:${process.pid}:main-\\d+$`))]);
      expect(await canarySessions()).toBe(2);
    } finally {
      thread.stop();
    }
    await untilAsync(async () => (await probeRows()).length === 0 && (await canarySessions()) === 0, 5000);
    expect(await probeRows()).toEqual([]);
    expect(await canarySessions()).toBe(0);
    const after = samples.length;
    await delay(100);
    expect(samples.length).toBe(after); // no sample once stopped
    await pool.end();
  });

  it('reports a failure as a failed sample of its probe, as the thread does', async () => {
    const pool = streamedPool(streamTo(1));
    const { samples, thread } = sampling(pool, { commit: false, migration: 'refused' });
    try {
      await until(() => samples.length >= 2, 5000);
    } finally {
      thread.stop();
      await pool.end();
    }
    expect(samples[0]).toEqual({ kind: 'read', ms: Infinity, error: expect.stringMatching(/ECONNREFUSED/) });
  });

  it("says once, through the chunk's log, that it samples on the main thread, naming the fields and no value", async () => {
    const pool = streamedPool(streamTo(), { password: 'hunter2' });
    const lines: string[] = [];
    const log = (message: string) => lines.push(message);
    const canary = latencyCanary(pool, { query: SETTINGS.query, commit: true, p99Ms: 5000 }, { everyMs: 10, idleStopMs: 10 });
    try {
      canary.acquire(log);
      await canary.ready();
      expect(canary.verdict()).toMatchObject({ over: false, reason: expect.stringMatching(/latency p99 [\d.]+ ms <= budget 5000 ms$/) });
      canary.release();
      await delay(100); // stopped after idleStopMs; the next acquire starts a new sampler
      canary.acquire(log);
      await canary.ready();
    } finally {
      canary.release();
    }
    expect(lines).toEqual([expect.stringMatching(/main thread.*functions a thread cannot receive \(stream\).*main thread's lag/)]);
    expect(lines[0]).not.toMatch(/hunter2|127\.0\.0\.1|postgres/);
    await untilAsync(async () => (await canarySessions()) === 0, 5000);
    await pool.end();
  });

  it('does not keep the process up: a process that leaves it sampling exits', async () => {
    expect(await runChild('sample')).toEqual({ code: 0, out: expect.stringMatching(/^sampled commit \d/) });
    await untilAsync(async () => (await canarySessions()) === 0, 5000); // its sessions ended with it
    await db.pool.query(`DELETE FROM ferry.latency_probes`); // the row of a process that exited mid-sample
  });

  it('keeps the process up while it stops: a process whose last act is stop() deletes its row first', async () => {
    // Each commit takes 200 ms: stop() comes while one is in flight, and the row's DELETE waits for it.
    await db.pool.query(`CREATE FUNCTION slow_probe() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN PERFORM pg_sleep(0.2); RETURN NEW; END $$`);
    await db.pool.query(
      `CREATE TRIGGER slow_probe BEFORE INSERT OR UPDATE ON ferry.latency_probes FOR EACH ROW EXECUTE FUNCTION slow_probe()`,
    );
    try {
      expect(await runChild('stop')).toEqual({ code: 0, out: expect.stringMatching(/^sampled commit \d/) });
      expect(await probeRows()).toEqual([]);
      expect(await canarySessions()).toBe(0);
    } finally {
      await db.pool.query('DROP TRIGGER slow_probe ON ferry.latency_probes');
    }
  });
});

describe('the canary in a thread', () => {
  it('still runs in a thread when the settings hold no function but a password function, and logs nothing', async () => {
    const pool = new pg.Pool({ connectionString: db.url, password: async () => 'unused under trust' });
    const lines: string[] = [];
    const canary = latencyCanary(pool, { commit: true, p99Ms: 5000 }, { everyMs: 10, idleStopMs: 10, migration: 'threaded' });
    try {
      canary.acquire((message) => lines.push(message));
      await canary.ready();
      expect(canary.verdict().over).toBe(false);
      expect(await probeRows()).toEqual([expect.stringMatching(new RegExp(`^threaded@.+:${process.pid}:[1-9]\\d*$`))]);
    } finally {
      canary.release();
    }
    expect(lines).toEqual([]);
    await untilAsync(async () => (await probeRows()).length === 0 && (await canarySessions()) === 0, 5000);
    await pool.end();
  });
});

/**
 * Runs CHILD, `then` (`sample`: leaves the canary sampling; `stop`: stops it): its exit code
 * (null: still up after 15 s, killed) and output.
 */
async function runChild(then: 'sample' | 'stop'): Promise<{ code: number | null; out: string }> {
  const module = require.resolve('../../src/health/canary-thread');
  const child = spawn(process.execPath, ['--require', 'tsx/cjs', '-e', CHILD], {
    env: { ...process.env, CANARY_DB: db.url, CANARY_MODULE: module, CANARY_THEN: then },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const code = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => (child.kill(), resolve(null)), 15_000);
    child.on('exit', (c) => (clearTimeout(timer), resolve(c)));
  });
  return { code, out };
}

/**
 * A process that starts a main-thread canary (read and commit) through a `stream` function, prints
 * its first commit sample, ends its own pool and, by CANARY_THEN, leaves the canary sampling or
 * stops it: either way it must exit on its own.
 */
const CHILD = String.raw`
const net = require('node:net');
const pg = require('pg');
const { startCanaryThread } = require(process.env.CANARY_MODULE);
const url = new URL(process.env.CANARY_DB);
const stream = () => {
  const socket = new net.Socket();
  const connect = socket.connect.bind(socket);
  socket.connect = () => connect(Number(url.port || 5432), url.hostname);
  return socket;
};
const database = decodeURIComponent(url.pathname.slice(1));
const pool = new pg.Pool({ host: '127.0.0.1', port: 1, user: decodeURIComponent(url.username) || 'postgres', database, stream });
const settings = { query: 'SELECT 1', commit: true, migration: 'exits', everyMs: 10, timeoutMs: 1000 };
// Up until the first commit sample; after it, up only as long as the canary holds it.
let hold = setTimeout(() => console.log('no sample'), 10000);
const canary = startCanaryThread(pool, settings, (s) => {
  if (hold === undefined || s.kind !== 'commit') return;
  clearTimeout(hold);
  hold = undefined;
  console.log('sampled ' + s.kind + ' ' + s.ms + (s.error ? ' ' + s.error : ''));
  pool.end();
  if (process.env.CANARY_THEN === 'stop') setTimeout(() => canary.stop(), 50); // during the next commit
}, () => undefined);
`;

/** Waits until `done()` or `ms` have passed. */
async function until(done: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!done() && Date.now() < end) await delay(10);
}

/** Waits until `done()` resolves true or `ms` have passed. */
async function untilAsync(done: () => Promise<boolean>, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!(await done()) && Date.now() < end) await delay(20);
}
