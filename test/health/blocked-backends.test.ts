/**
 * The blocked-backends check against a real PostgreSQL: a connection holds a row lock, another
 * waits for it; the check (and a health gate waiting on it) holds the backfill back until the
 * blocker commits.
 */
import pg from 'pg';
import { waitUntilHealthy, type Unhealthy } from '../../src/engine/throttle';
import { blockedBackendsCheck } from '../../src/health/blocked-backends';
import { createHealthGate } from '../../src/health/gate';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { delay } from '../helpers/backfill';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase('health_blocked');
  await db.pool.query(`CREATE SCHEMA "Mixed Case"`);
  await db.pool.query(`CREATE TABLE "Mixed Case"."Odd-Table" (id int PRIMARY KEY, v int)`);
  await db.pool.query(`INSERT INTO "Mixed Case"."Odd-Table" SELECT g, 0 FROM generate_series(1, 10) g`);
  await db.pool.query(`CREATE TABLE other (id int PRIMARY KEY, v int)`);
  await db.pool.query(`INSERT INTO other VALUES (1, 0)`);
});

afterAll(async () => {
  await db?.drop();
});

const TABLE = '"Mixed Case"."Odd-Table"';

const connect = () => db.connect();

/** Holds a row lock on `table` row 1 in an open transaction; `waiter` then blocks on it. */
async function blockOn(table: string): Promise<{ holder: pg.Client; waiting: Promise<unknown> }> {
  const holder = await connect();
  const waiter = await connect();
  await holder.query('BEGIN');
  await holder.query(`UPDATE ${table} SET v = v + 1 WHERE id = 1`);
  const waiting = waiter.query(`UPDATE ${table} SET v = v + 1 WHERE id = 1`);
  await untilBlocked(waiter);
  return { holder, waiting };
}

/** Waits until `client`'s backend waits for a lock. */
async function untilBlocked(client: pg.Client): Promise<void> {
  const pid = (client as unknown as { processID: number }).processID;
  for (let i = 0; i < 100; i++) {
    const { rows } = await db.pool.query(`SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1`, [pid]);
    if (rows[0]?.wait_event_type === 'Lock') return;
    await delay(20);
  }
  throw new Error('the waiting connection never blocked');
}

describe('blockedBackendsCheck', () => {
  it('is healthy when nothing waits', async () => {
    expect(await blockedBackendsCheck(TABLE, 0).run(db.pool, 1000)).toEqual({ healthy: true });
  });

  it('counts a backend blocked on a row of the table, and ignores other tables', async () => {
    const { holder, waiting } = await blockOn(TABLE);
    expect(await blockedBackendsCheck(TABLE, 0).run(db.pool, 1000)).toEqual({
      healthy: false,
      kind: 'locks',
      reason: '1 backend blocked on "Mixed Case"."Odd-Table"',
    });
    expect(await blockedBackendsCheck(TABLE, 1).run(db.pool, 1000)).toEqual({ healthy: true }); // threshold
    expect(await blockedBackendsCheck('"public"."other"', 0).run(db.pool, 1000)).toEqual({ healthy: true });
    await holder.query('COMMIT');
    await waiting;
    expect(await blockedBackendsCheck(TABLE, 0).run(db.pool, 1000)).toEqual({ healthy: true });
  });

  it('counts DDL queued for the table behind a reader', async () => {
    const reader = await connect();
    const ddl = await connect();
    await reader.query('BEGIN');
    await reader.query(`SELECT count(*) FROM ${TABLE}`);
    const altering = ddl.query(`ALTER TABLE ${TABLE} ADD COLUMN IF NOT EXISTS w int`);
    await untilBlocked(ddl);
    const verdict = await blockedBackendsCheck(TABLE, 0).run(db.pool, 1000);
    expect(verdict).toMatchObject({ healthy: false, reason: '1 backend blocked on "Mixed Case"."Odd-Table"' });
    await reader.query('COMMIT');
    await altering;
  });

  it('holds a waiting backfill until the blocker goes', async () => {
    const { holder, waiting } = await blockOn(TABLE);
    const gate = createHealthGate(db.pool, [blockedBackendsCheck(TABLE, 0)], { cacheMs: 0 });
    const waits: Unhealthy[] = [];
    let waitedMs = 0;
    setTimeout(() => void holder.query('COMMIT'), 700);
    const t0 = Date.now();
    const outcome = await waitUntilHealthy(
      {
        gate,
        sleep: delay,
        remainingMs: () => 60_000,
        stopRequested: async () => false,
        onWait: (ms, verdict) => ((waitedMs += ms), waits.push(verdict)),
      },
      { initialMs: 100, maxMs: 200, sliceMs: 50 },
    );
    await waiting;
    expect(outcome).toBe('healthy');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(650);
    expect(waitedMs).toBeGreaterThanOrEqual(600);
    expect(new Set(waits.map((w) => w.reason))).toEqual(new Set(['1 backend blocked on "Mixed Case"."Odd-Table"']));
  });
});
