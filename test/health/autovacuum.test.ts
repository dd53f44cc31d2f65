/**
 * The autovacuum check against a real PostgreSQL. Autovacuum cannot be summoned on demand, so a
 * manual VACUUM slowed by cost-based delay stands in for it: it shows in pg_stat_progress_vacuum the
 * same way, and the check names it "vacuum" rather than "autovacuum".
 */
import pg from 'pg';
import { autovacuumCheck } from '../../src/health/autovacuum';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { delay } from '../helpers/backfill';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase('health_vacuum');
  await db.pool.query(`CREATE TABLE posts (id int PRIMARY KEY, body text) WITH (autovacuum_enabled = false)`);
  await db.pool.query(`INSERT INTO posts SELECT g, repeat('x', 200) FROM generate_series(1, 20000) g`);
  await db.pool.query(`DELETE FROM posts WHERE id % 2 = 0`);
  await db.pool.query(`CREATE TABLE quiet (id int PRIMARY KEY) WITH (autovacuum_enabled = false)`);
});

afterAll(() => db?.drop());

/** Starts a VACUUM of `posts` that crawls (cost delay), and waits until it shows in the progress view. */
async function slowVacuum(): Promise<{ client: pg.Client; done: Promise<unknown> }> {
  const client = new pg.Client({ connectionString: db.url });
  client.on('error', () => undefined);
  await client.connect();
  await client.query(`SET vacuum_cost_delay = '100ms'; SET vacuum_cost_limit = 1`);
  const done = client.query('VACUUM posts').catch((e) => e);
  for (let i = 0; i < 100; i++) {
    const { rows } = await db.pool.query(`SELECT 1 FROM pg_stat_progress_vacuum WHERE relid = 'posts'::regclass`);
    if (rows.length > 0) return { client, done };
    await delay(20);
  }
  throw new Error('VACUUM posts never showed in pg_stat_progress_vacuum');
}

describe('autovacuumCheck', () => {
  it('is healthy while nothing vacuums the table', async () => {
    expect(await autovacuumCheck('"public"."posts"').run(db.pool, 1000)).toEqual({ healthy: true });
  });

  it('throttles while a vacuum runs on the table, not on another table', async () => {
    const { client, done } = await slowVacuum();
    try {
      expect(await autovacuumCheck('"public"."posts"').run(db.pool, 1000)).toEqual({
        healthy: false,
        kind: 'autovacuum',
        reason: 'vacuum on "public"."posts"',
      });
      expect(await autovacuumCheck('"public"."quiet"').run(db.pool, 1000)).toEqual({ healthy: true });
    } finally {
      await db.pool.query(`SELECT pg_cancel_backend($1)`, [(client as unknown as { processID: number }).processID]);
      await done;
      await client.end();
    }
    expect(await autovacuumCheck('"public"."posts"').run(db.pool, 1000)).toEqual({ healthy: true });
  });
});
