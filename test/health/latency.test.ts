/**
 * The latency canary against a real PostgreSQL: it samples the query on a connection of its own,
 * read-only and under statement_timeout, and fails closed (an error or a timeout is over budget).
 * Its samples are timed in a thread of its own, on a warm client: neither connecting nor the main
 * thread's event loop is in them. With `commit: true` the same thread also times a commit of a row
 * of ferry's own (`ferry.latency_probes`) under synchronous_commit = on.
 */
import os from 'node:os';
import pg from 'pg';
import { startCanaryThread, type CanarySample } from '../../src/health/canary-thread';
import { judge, latencyCanary, percentileOf, slidingWindow, worstOf, type LatencyCanary } from '../../src/health/latency';
import { probeSet } from '../../src/health/latency-window';
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

describe('latency canary: the commit probe', () => {
  const probeRows = async (pool: pg.Pool = db.pool) =>
    (await pool.query('SELECT probe, commits::int AS commits FROM ferry.latency_probes ORDER BY probe')).rows;

  it('posts read and commit samples, each with its kind, from one thread', async () => {
    const samples: CanarySample[] = [];
    const settings = { query: 'SELECT note FROM items WHERE id = 7', commit: true, migration: 'kinds', everyMs: 10, timeoutMs: 1000 };
    const thread = startCanaryThread(
      db.pool,
      settings,
      (s) => samples.push(s),
      () => undefined,
    );
    try {
      await untilAsync(async () => samples.filter((s) => s.kind === 'commit').length >= 5, 10_000);
    } finally {
      thread.stop();
    }
    expect(samples.filter((s) => s.kind === 'read').length).toBeGreaterThanOrEqual(4);
    expect(samples.filter((s) => s.kind === 'commit').length).toBeGreaterThanOrEqual(5);
    expect(samples.filter((s) => s.kind === undefined || !Number.isFinite(s.ms))).toEqual([]);
    await untilAsync(async () => (await probeRows()).length === 0, 5000);
    expect(await probeRows()).toEqual([]); // the stopped thread deleted its row
  });

  it('writes its own row while it samples, named by migration, host, pid and thread, and deletes it once stopped', async () => {
    const canary = await sampled({ commit: true, p99Ms: 5000 }, 10, { migration: 'rowed' });
    const v = canary.verdict();
    expect(v.over).toBe(false);
    expect(v.p99Ms).toBeGreaterThan(0);
    expect(v.reason).toMatch(/^commit latency p99 [\d.]+ ms <= budget 5000 ms$/);
    const rows = await probeRows();
    expect(rows).toEqual([{ probe: expect.stringMatching(/^rowed@.+:\d+:\d+$/), commits: expect.any(Number) }]);
    const [where, pid, thread] = (rows[0].probe as string).split(':');
    expect([where, pid]).toEqual([`rowed@${os.hostname()}`, String(process.pid)]);
    expect(Number(thread)).toBeGreaterThan(0); // the canary thread's id (the main thread's is 0)
    expect(rows[0].commits).toBeGreaterThanOrEqual(5);
    running.splice(running.indexOf(canary), 1);
    canary.release(); // the thread stops after idleStopMs
    await untilAsync(async () => (await probeRows()).length === 0, 5000);
    expect(await probeRows()).toEqual([]);
  });

  it("deletes the rows of probes that stopped writing an hour ago as it connects, and no live probe's", async () => {
    await db.pool.query(
      `INSERT INTO ferry.latency_probes (probe, updated_at) VALUES ('dead@h:1:1', now() - interval '2 hours'), ('alive@h:2:1', now() - interval '50 minutes')`,
    );
    const canary = await sampled({ commit: true, p99Ms: 5000 }, 3, { migration: 'pruner' });
    const probes = (await probeRows()).map((r) => r.probe as string);
    expect(probes).toContain('alive@h:2:1');
    expect(probes).not.toContain('dead@h:1:1');
    expect(probes.some((p) => p.startsWith('pruner@'))).toBe(true);
    running.splice(running.indexOf(canary), 1);
    canary.release();
    await untilAsync(async () => (await probeRows()).length === 1, 5000);
    await db.pool.query(`DELETE FROM ferry.latency_probes`);
  });

  it('commits with synchronous_commit = on even where the database says off', async () => {
    await db.pool.query(`CREATE TABLE sync_seen (setting text NOT NULL)`);
    await db.pool.query(`CREATE FUNCTION note_sync() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN INSERT INTO sync_seen VALUES (current_setting('synchronous_commit')); RETURN NEW; END $$`);
    await db.pool.query(
      `CREATE TRIGGER note_sync BEFORE INSERT OR UPDATE ON ferry.latency_probes FOR EACH ROW EXECUTE FUNCTION note_sync()`,
    );
    await db.pool.query(`ALTER DATABASE "${db.name}" SET synchronous_commit = off`);
    try {
      const other = await db.connect(); // a new session gets the database's default
      expect((await other.query('SHOW synchronous_commit')).rows[0].synchronous_commit).toBe('off');
      await sampled({ commit: true, p99Ms: 5000 }, 5);
      const { rows } = await db.pool.query('SELECT setting, count(*)::int AS n FROM sync_seen GROUP BY setting');
      expect(rows).toEqual([{ setting: 'on', n: expect.any(Number) }]);
      expect(rows[0].n).toBeGreaterThanOrEqual(3);
    } finally {
      await db.pool.query(`ALTER DATABASE "${db.name}" RESET synchronous_commit`);
      await db.pool.query('DROP TRIGGER note_sync ON ferry.latency_probes');
    }
  });

  it('is over a budget it cannot meet, and says it is the commit', async () => {
    const v = (await sampled({ commit: true, p99Ms: 0.0001 })).verdict();
    expect(v.over).toBe(true);
    expect(v.reason).toMatch(/^commit latency p99 [\d.]+ ms > budget 0 ms$/);
  });

  it('measures its own baseline for a ratio budget before it is ready', async () => {
    const canary = latencyCanary(db.pool, { commit: true, ratio: 1000 }, FAST);
    canary.acquire();
    running.push(canary);
    await canary.ready();
    const v = canary.verdict();
    expect(v.budgetMs).toBeGreaterThan(0); // 1000 × the commit's own p99 before: known at ready()
    expect(v.over).toBe(false);
  });

  it('fails closed where ferry.latency_probes is missing, over while the read is within, saying why', async () => {
    const bare = await createTestDatabase('probe_no_store', { store: false });
    try {
      const canary = await sampled({ query: 'SELECT 1', commit: true, p99Ms: 5000 }, 5, {}, bare.pool);
      const v = canary.verdict();
      expect(v).toMatchObject({ over: true, p99Ms: Infinity });
      expect(v.reason).toMatch(/^commit latency probe failed: relation "ferry.latency_probes" does not exist/);
      expect(v.reason).toContain('run ferry setup');
    } finally {
      running.splice(0).forEach((c) => c.release());
      await delay(100);
      await bare.drop();
    }
  });
});

/** Waits until `done()` resolves true or `ms` have passed. */
async function untilAsync(done: () => Promise<boolean>, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!(await done()) && Date.now() < end) await delay(20);
}

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
    expect(judge(9.44, 3, undefined, 'commit').reason).toBe('commit latency p99 9.44 ms > budget 3 ms');
    expect(judge(Infinity, 3, 'boom', 'commit').reason).toBe('commit latency probe failed: boom');
  });

  it('judges several probes by the worst: over when any is, reporting the highest p99 / budget', () => {
    const read = judge(2, 3);
    expect(worstOf([read])).toBe(read);
    expect(worstOf([read, judge(2.5, 3, undefined, 'commit')]).reason).toBe('commit latency p99 2.5 ms <= budget 3 ms');
    const over = worstOf([read, judge(9.44, 7.09, undefined, 'commit')]);
    expect(over).toMatchObject({ over: true, p99Ms: 9.44, budgetMs: 7.09, reason: 'commit latency p99 9.44 ms > budget 7.09 ms' });
    // Each against its own budget (a ratio's baselines differ): 4 / 1 is worse than 9 / 6.
    expect(worstOf([judge(4, 1), judge(9, 6, undefined, 'commit')]).reason).toBe('latency p99 4 ms > budget 1 ms');
    expect(worstOf([judge(Infinity, 3, 'boom'), judge(9, 3, undefined, 'commit')]).reason).toBe('latency canary failed: boom');
    expect(worstOf([judge(0, 0), judge(0.5, 0, undefined, 'commit')]).over).toBe(true);
  });

  it('keeps a baseline per probe: ready once both are measured, each probe held to ratio × its own', () => {
    const probes = probeSet({ query: 'SELECT 1', commit: true, ratio: 2 }, { window: 10, baselineSamples: 2, timeoutMs: 100 });
    [1, 1].forEach((ms) => probes.record({ kind: 'read', ms }));
    expect(probes.waiting()).toBe(true); // the commit's baseline is not measured yet
    [5, 5].forEach((ms) => probes.record({ kind: 'commit', ms }));
    expect(probes.waiting()).toBe(false);
    probes.record({ kind: 'read', ms: 1.5 });
    probes.record({ kind: 'commit', ms: 8 });
    expect(probes.verdict()).toMatchObject({ over: false, p99Ms: 8, budgetMs: 10 }); // 8 / 10 is the worse of the two
    probes.record({ kind: 'read', ms: 3 }); // over 2 × the read's own 1 ms, though under the commit's budget
    expect(probes.verdict()).toMatchObject({ over: true, reason: 'latency p99 3 ms > budget 2 ms' });
    expect(probes.verdictSince(0, 3)).toBeUndefined(); // fewer than 3 fresh samples of the commit
    probes.record({ ms: Infinity, error: 'thread died' }); // no kind: every probe fails closed
    expect(probes.verdict().reason).toBe('latency canary failed: thread died');
    expect(probes.verdictSince(0, 2)).toMatchObject({ over: true, p99Ms: Infinity });
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

  it('two stages: smaller transactions first, without rests; then the duty; back up in reverse order', () => {
    const d = dutyCycle({ holdMs: 0, increase: 0.25, min: 0.1, lockMs: { maxLockMs: 24, minLockMs: 2 } });
    expect([d.lockMs(), d.duty(), d.engaged()]).toEqual([24, 1, false]);
    d.update(true, 0);
    expect([d.lockMs(), d.duty(), d.restMs(100), d.engaged()]).toEqual([12, 1, 0, true]);
    [1, 2, 3].forEach((t) => d.update(true, t));
    expect([d.lockMs(), d.duty()]).toEqual([2, 1]); // 12, 6, 3, then the floor
    d.update(true, 4);
    expect([d.lockMs(), d.duty(), d.restMs(100)]).toEqual([2, 0.5, 100]); // only now does it rest
    d.update(false, 5);
    expect([d.lockMs(), d.duty()]).toEqual([2, 0.75]); // the duty comes back first
    d.update(false, 6);
    expect([d.lockMs(), d.duty(), d.restMs(100)]).toEqual([2, 1, 0]);
    d.update(false, 7);
    expect(d.lockMs()).toBe(2.5); // then the lock time, by a factor of 1.25
    [8, 9, 10, 11, 12, 13, 14, 15, 16].forEach((t) => d.update(false, t));
    expect(d.lockMs()).toBeCloseTo(18.6, 1);
    d.update(false, 17);
    expect(d.lockMs()).toBeCloseTo(23.3, 1);
    expect(d.engaged()).toBe(true);
    d.update(false, 18);
    expect([d.lockMs(), d.engaged()]).toEqual([24, false]); // capped at maxLockMs: full speed
    const byDefault = dutyCycle({ holdMs: 0, lockMs: { maxLockMs: 25 } });
    [0, 1, 2, 3].forEach((t) => byDefault.update(true, t));
    expect([byDefault.lockMs(), byDefault.duty()]).toEqual([2, 1]); // 12.5, 6.25, 3.125, then the default floor, 2 ms
    byDefault.update(true, 4);
    expect(byDefault.duty()).toBe(0.5);
    expect(dutyCycle({ lockMs: { maxLockMs: 1 } }).lockMs()).toBe(1); // below the floor already: straight to the duty
    const floor = dutyCycle({ holdMs: 0, lockMs: { maxLockMs: 1 } });
    floor.update(true, 0);
    expect([floor.lockMs(), floor.duty()]).toEqual([1, 0.5]);
  });
});
