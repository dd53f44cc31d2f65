/**
 * The latency canary against a real PostgreSQL: it samples the query on a connection of its own,
 * read-only and under statement_timeout, and fails closed (an error or a timeout is over budget).
 * Its samples are timed in a thread of its own, on a warm client: neither connecting nor the main
 * thread's event loop is in them.
 */
import pg from 'pg';
import { judge, latencyCanary, percentileOf, slidingWindow, type LatencyCanary } from '../../src/health/latency';
import { dutyCycle } from '../../src/engine/duty-cycle';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { delay } from '../helpers/backfill';

let db: TestDatabase;
const running: LatencyCanary[] = [];

beforeAll(async () => {
  db = await createTestDatabase('latency_canary');
  await db.pool.query('CREATE TABLE items (id int PRIMARY KEY, note text)');
  await db.pool.query(`INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 100) g`);
  // Sleeps `seconds` the first time a session calls it: a cold connection's first query.
  await db.pool.query(`CREATE FUNCTION slow_first_run(seconds float8) RETURNS int LANGUAGE plpgsql AS $$
    BEGIN
      IF current_setting('canary.warm', true) IS DISTINCT FROM 'yes' THEN
        PERFORM pg_sleep(seconds);
        PERFORM set_config('canary.warm', 'yes', false);
      END IF;
      RETURN 1;
    END $$`);
});

afterEach(() => running.splice(0).forEach((c) => c.release()));
afterAll(async () => {
  await delay(100); // the canaries' connections close after idleStopMs
  await db?.drop();
});

const FAST = { everyMs: 10, window: 20, baselineSamples: 10, timeoutMs: 200, idleStopMs: 10 };

/** A canary on `query`, acquired, once `samples` samples would have been taken. */
async function sampled(
  budget: Parameters<typeof latencyCanary>[1],
  samples = 20,
  options: Parameters<typeof latencyCanary>[2] = {},
  pool: pg.Pool = db.pool,
): Promise<LatencyCanary> {
  const canary = latencyCanary(pool, budget, { ...FAST, ...options });
  canary.acquire();
  running.push(canary);
  await canary.ready();
  await delay(samples * FAST.everyMs + 200);
  return canary;
}

describe('latency canary', () => {
  it('measures the query within a generous budget', async () => {
    const canary = await sampled({ query: 'SELECT note FROM items WHERE id = 7', p99Ms: 5000 });
    const v = canary.verdict();
    expect(v.over).toBe(false);
    expect(v.p99Ms).toBeGreaterThan(0);
    expect(v.reason).toMatch(/^latency p99 [\d.]+ ms <= budget 5000 ms$/);
  });

  it('is over a budget it cannot meet, and says so', async () => {
    const v = (await sampled({ query: 'SELECT note FROM items WHERE id = 7', p99Ms: 0.0001 })).verdict();
    expect(v.over).toBe(true);
    expect(v.reason).toMatch(/^latency p99 [\d.]+ ms > budget 0 ms$/);
  });

  it('measures a baseline first for a ratio budget', async () => {
    const v = (await sampled({ query: 'SELECT note FROM items WHERE id = 7', ratio: 1000 })).verdict();
    expect(v.budgetMs).toBeGreaterThan(0);
    expect(v.over).toBe(false);
  });

  it('fails closed: an error, a write (read-only) and a timeout are over budget', async () => {
    const failing = ['SELECT 1/0', `INSERT INTO items VALUES (1000, 'x')`, 'SELECT pg_sleep(1)'];
    const verdicts = await Promise.all(failing.map(async (query) => (await sampled({ query, p99Ms: 5000 }, 10)).verdict()));
    expect(verdicts.map((v) => v.over)).toEqual([true, true, true]);
    expect(verdicts[0].reason).toMatch(/^latency canary failed: division by zero/);
    expect(verdicts[1].reason).toMatch(/read-only transaction/);
    expect(verdicts[2].reason).toMatch(/statement timeout|no answer within/);
    expect((await db.pool.query('SELECT count(*)::int AS n FROM items')).rows[0].n).toBe(100);
  });
});

describe('latency canary: what a sample times', () => {
  it('does not time connecting nor the first query of a session: a slow first run does not raise the baseline', async () => {
    const query = 'SELECT slow_first_run(1)';
    const canary = await sampled({ query, ratio: 1 }, 10, { timeoutMs: 3000 });
    expect(canary.verdict().budgetMs).toBeLessThan(500); // the baseline's p99; the first run slept 1000 ms
  });

  it('counts a sample that waits on a lock: a slow one by its time, one past lock_timeout as failed', async () => {
    const blocked = async (holdMs: number, options: Parameters<typeof latencyCanary>[2]) => {
      const canary = await sampled({ query: 'SELECT note FROM items WHERE id = 7', p99Ms: 5000 }, 5, options);
      const locker = await db.connect();
      await locker.query('BEGIN; LOCK TABLE items IN ACCESS EXCLUSIVE MODE');
      await until(() => canary.verdict().over, holdMs);
      const during = canary.verdict();
      await locker.query('COMMIT');
      await delay(100);
      return { during, after: canary.verdict() };
    };
    const slow = (await blocked(1000, { everyMs: 20, window: 50, timeoutMs: 3000 })).after;
    expect(slow.p99Ms).toBeGreaterThanOrEqual(500); // the lock was held 1000 ms while a sample waited
    const failed = (await blocked(10_000, { timeoutMs: 200 })).during;
    expect(failed).toMatchObject({ over: true, p99Ms: Infinity });
    expect(failed.reason).toMatch(/^latency canary failed: .*(lock|statement) timeout/);
  });

  it('fails closed when its thread cannot connect, with the error as the reason', async () => {
    const pool = new pg.Pool({ host: '127.0.0.1', port: 1, user: 'postgres', database: 'postgres' });
    try {
      const v = (await sampled({ query: 'SELECT 1', p99Ms: 5000 }, 2, {}, pool)).verdict();
      expect(v).toMatchObject({ over: true, p99Ms: Infinity });
      expect(v.reason).toMatch(/^latency canary failed: .*ECONNREFUSED/);
    } finally {
      await pool.end();
    }
  });

  it("connects with the pool's settings, a password given as a function included", async () => {
    const pool = new pg.Pool({ connectionString: db.url, password: async () => 'unused under trust' });
    try {
      const v = (await sampled({ query: 'SELECT note FROM items WHERE id = 7', p99Ms: 5000 }, 5, {}, pool)).verdict();
      expect(v.reason).toMatch(/^latency p99 [\d.]+ ms <= budget 5000 ms$/);
    } finally {
      await pool.end();
    }
  });

  it('fails closed when its thread dies, and starts a new thread at the next acquire', async () => {
    let calls = 0;
    const password = async () => {
      calls += 1;
      if (calls === 1) throw new Error('vault down');
      return 'unused under trust';
    };
    const pool = new pg.Pool({ connectionString: db.url, password });
    try {
      const canary = latencyCanary(pool, { query: 'SELECT 1', p99Ms: 5000 }, FAST);
      canary.acquire();
      running.push(canary);
      await canary.ready(); // the dead thread's failed sample is the first; a new thread is started
      expect(canary.verdict()).toMatchObject({
        over: true,
        reason: expect.stringMatching(/thread has no connection settings: vault down/),
      });
      canary.release();
      canary.acquire(); // the next chunk
      running.push(canary);
      await until(() => !canary.verdict().over, 10_000);
      expect(canary.verdict().reason).toMatch(/^latency p99 [\d.]+ ms <= budget 5000 ms$/);
    } finally {
      await pool.end();
    }
  });

  it("is not slowed by the main thread's event loop: 300 ms blocks of it stay out of the samples", async () => {
    const canary = await sampled({ query: 'SELECT note FROM items WHERE id = 7', p99Ms: 100 }, 5);
    for (let i = 0; i < 6; i += 1) {
      busyWait(300); // the backfill's parsing and the Temporal SDK, as the canary's old sampler saw them
      await delay(1); // timers and the thread's messages run here
    }
    await delay(50);
    const v = canary.verdict();
    expect(v.p99Ms).toBeGreaterThan(0);
    expect(v.over).toBe(false);
  });
});

/** Blocks this thread's event loop for `ms`. */
function busyWait(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

/** Waits until `done()` or `ms` have passed. */
async function until(done: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!done() && Date.now() < end) await delay(10);
}

describe('pure parts', () => {
  it('keeps a sliding window; a failed sample in it makes the p99 infinite', () => {
    const w = slidingWindow(3);
    [5, 1, 2, 3].forEach((v) => w.push(v));
    expect(w.p99()).toBe(3);
    w.push(Infinity);
    expect(w.p99()).toBe(Infinity);
    expect(percentileOf([4, 1, 3, 2], 0.5)).toBe(2);
    expect(judge(Infinity, 3, 'boom')).toMatchObject({ over: true, reason: 'latency canary failed: boom' });
    expect(judge(4.123, 3).reason).toBe('latency p99 4.12 ms > budget 3 ms');
  });

  it('judges the samples since a time apart: the slow ones before it do not count', () => {
    const w = slidingWindow(10);
    [50, 60, 70].forEach((v, i) => w.push(v, 1000 + i));
    [1, 2, 3].forEach((v, i) => w.push(v, 2000 + i));
    expect(w.p99()).toBe(70);
    expect(w.since(2000).p99()).toBe(3);
    expect(w.since(2000).size()).toBe(3);
    expect(w.since(3000).size()).toBe(0);
    w.push(Infinity, 2500);
    expect(w.since(2000).p99()).toBe(Infinity); // fail closed there too
  });

  it('the duty holds on no fresh evidence (undefined) and remembers its last halving', () => {
    const d = dutyCycle({ holdMs: 0 });
    expect(d.lastDecrease()).toBe(-Infinity);
    d.update(true, 1234);
    expect([d.duty(), d.lastDecrease()]).toEqual([0.5, 1234]);
    d.update(undefined, 2000);
    expect([d.duty(), d.lastDecrease()]).toEqual([0.5, 1234]);
  });

  it('AIMD on the duty cycle: halves when over (once per hold), grows back additively, rests in proportion', () => {
    const d = dutyCycle({ holdMs: 1000, increase: 0.25, min: 0.1 });
    d.update(true, 0);
    expect(d.duty()).toBe(0.5);
    expect(d.restMs(100)).toBe(100);
    d.update(true, 500); // within the hold: no second halving
    expect(d.duty()).toBe(0.5);
    [1000, 2000, 3000, 4000].forEach((t) => d.update(true, t));
    expect(d.duty()).toBe(0.1); // the floor: the backfill still moves
    d.update(false, 5000);
    expect(d.duty()).toBe(0.35);
    [1, 2, 3].forEach(() => d.update(false, 6000));
    expect(d.duty()).toBe(1);
    expect(d.restMs(100)).toBe(0);
  });
});
