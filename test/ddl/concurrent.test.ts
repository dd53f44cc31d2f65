/**
 * The forms that cannot run in a transaction (CREATE / DROP INDEX CONCURRENTLY) and the long
 * non-blocking one (VALIDATE CONSTRAINT) run alone, outside a transaction, under the lock
 * timeout; an INVALID index left by an interrupted concurrent build is dropped and built again;
 * a list interrupted between statements resumes at the statement that did not run.
 */
import type pg from 'pg';
import { FerryError } from '../../src/contract/errors';
import { runDdl } from '../../src/pg/ddl';
import { withTransaction } from '../../src/pg/transaction';
import { createTestDatabase, type TestDatabase } from '../helpers/db';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase('ddl_concurrent');
  // slow_id: an IMMUTABLE function that sleeps, so that an index build or a validation lasts long enough to be watched.
  await db.pool.query(`
    CREATE FUNCTION slow_id(int) RETURNS int IMMUTABLE LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.002); RETURN $1; END $$`);
});

afterAll(async () => {
  await db?.drop();
});

beforeEach(async () => {
  await db.pool.query(`DROP TABLE IF EXISTS items; CREATE TABLE items (id int PRIMARY KEY, v int);
    INSERT INTO items SELECT g, g FROM generate_series(1, 400) g; ANALYZE items;`);
});

const indexState = async (name: string) =>
  (await db.pool.query(`SELECT indisvalid AS valid FROM pg_index WHERE indexrelid = to_regclass($1::text)`, [name])).rows[0];

/** Polls pg_stat_activity (from a connection of its own) until a backend runs a query starting with `prefix`. */
async function backendRunning(watcher: pg.Client, prefix: string): Promise<{ pid: number; sameStart: boolean }> {
  for (;;) {
    const { rows } = await watcher.query(
      `SELECT pid, xact_start = query_start AS "sameStart" FROM pg_stat_activity WHERE state = 'active' AND query LIKE $1::text || '%'`,
      [prefix],
    );
    if (rows[0]) return rows[0];
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('CREATE INDEX CONCURRENTLY and DROP INDEX CONCURRENTLY run outside a transaction (PostgreSQL refuses them in one)', async () => {
  const create = 'CREATE INDEX CONCURRENTLY IF NOT EXISTS items_v ON items (v)';
  const inTransaction = await withTransaction(db.pool, (c) => c.query(create)).catch((e) => e);
  expect(inTransaction.code).toBe('25001'); // active_sql_transaction: "cannot run inside a transaction block"

  const built = await runDdl(db.pool, [create], { table: '"public"."items"' });
  expect(built).toEqual({ statements: 1, retries: 0, skipped: 0, rebuilt: 0 });
  expect(await indexState('items_v')).toEqual({ valid: true });
  await runDdl(db.pool, ['DROP INDEX CONCURRENTLY IF EXISTS items_v']);
  expect(await indexState('items_v')).toBeUndefined();
});

test('VALIDATE CONSTRAINT runs alone, outside a transaction, under SHARE UPDATE EXCLUSIVE: writes go on meanwhile', async () => {
  await db.pool.query('ALTER TABLE items ADD CONSTRAINT items_slow CHECK (slow_id(v) > 0) NOT VALID');
  const watcher = await db.connect();
  const writer = await db.connect();
  const validating = runDdl(db.pool, ['ALTER TABLE items VALIDATE CONSTRAINT items_slow']);
  const backend = await backendRunning(watcher, 'ALTER TABLE items VALIDATE');
  expect(backend.sameStart).toBe(true); // its transaction began with the statement: no BEGIN before it
  const { rows } = await watcher.query(`SELECT mode FROM pg_locks WHERE pid = $1 AND relation = 'items'::regclass`, [backend.pid]);
  expect(rows.map((r) => r.mode)).toEqual(['ShareUpdateExclusiveLock']);
  await writer.query(`SET lock_timeout = '200ms'`);
  await writer.query('INSERT INTO items VALUES (1000, 1000)'); // not blocked: ROW EXCLUSIVE does not conflict
  await expect(validating).resolves.toMatchObject({ statements: 1 });
  const valid = await db.pool.query(`SELECT convalidated FROM pg_constraint WHERE conname = 'items_slow'`);
  expect(valid.rows).toEqual([{ convalidated: true }]);
});

test('an INVALID index left by an interrupted CREATE INDEX CONCURRENTLY is dropped and built again', async () => {
  const create = 'CREATE INDEX CONCURRENTLY IF NOT EXISTS items_slow ON items (slow_id(id))';
  // A session (a worker that died, say) builds the index and is cancelled mid-build.
  const builder = await db.connect();
  const watcher = await db.connect();
  const building = builder.query(create).catch((e) => e);
  const backend = await backendRunning(watcher, 'CREATE INDEX CONCURRENTLY');
  // Cancel it once its catalog entry is committed (the build's first phase): a cancel before that
  // leaves no index at all, under a loaded machine's timing.
  for (let i = 0; i < 2000 && (await indexState('items_slow')) === undefined; i++) await new Promise((r) => setTimeout(r, 5));
  await watcher.query('SELECT pg_cancel_backend($1)', [backend.pid]);
  expect((await building).code).toBe('57014');
  expect(await indexState('items_slow')).toEqual({ valid: false });
  // PostgreSQL's IF NOT EXISTS sees the name and skips: the index would stay INVALID for good.
  await builder.query(create);
  expect(await indexState('items_slow')).toEqual({ valid: false });

  await expect(runDdl(db.pool, [create])).resolves.toEqual({ statements: 1, retries: 0, skipped: 0, rebuilt: 1 });
  expect(await indexState('items_slow')).toEqual({ valid: true });
  const plan = await db.pool.query(`EXPLAIN SELECT * FROM items WHERE slow_id(id) = 5`);
  expect(plan.rows.map((r) => r['QUERY PLAN']).join('\n')).toContain('items_slow');
});

test('a unique build that fails on a duplicate leaves no INVALID index; fixed, the next run builds it', async () => {
  await db.pool.query('UPDATE items SET v = 1 WHERE id = 2');
  const create = 'CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS items_v_unique ON items (v)';
  const err = await runDdl(db.pool, [create], { table: '"public"."items"' }).catch((e) => e);
  expect(err).toBeInstanceOf(FerryError);
  expect(err.code).toBe('FAILED');
  expect(err.message).toContain('could not create unique index "items_v_unique"');
  expect(err.message).toContain('SQLSTATE 23505');
  expect(await indexState('items_v_unique')).toBeUndefined(); // ferry dropped what the failed build left
  await db.pool.query('UPDATE items SET v = 2 WHERE id = 2');
  await expect(runDdl(db.pool, [create])).resolves.toMatchObject({ skipped: 0, rebuilt: 0 });
  expect(await indexState('items_v_unique')).toEqual({ valid: true });
});

test('a list interrupted between statements resumes at the statement that did not run', async () => {
  await db.pool.query('UPDATE items SET v = 0 WHERE id = 7'); // violates the CHECK: the VALIDATE fails
  const list = [
    'ALTER TABLE items ADD CONSTRAINT items_v_positive CHECK (v > 0) NOT VALID', // no IF NOT EXISTS in PostgreSQL
    'ALTER TABLE items VALIDATE CONSTRAINT items_v_positive',
    'CREATE INDEX CONCURRENTLY items_v_idx ON items (v)', // nor here: run twice, it would fail
  ];
  const err = await runDdl(db.pool, list).catch((e) => e);
  expect(err.message).toMatch(/^DDL statement 2 of 3, "ALTER TABLE items VALIDATE CONSTRAINT items_v_positive" failed: .*SQLSTATE 23514/);
  await db.pool.query('UPDATE items SET v = 7 WHERE id = 7');
  await expect(runDdl(db.pool, list)).resolves.toEqual({ statements: 3, retries: 0, skipped: 1, rebuilt: 0 });
  await expect(runDdl(db.pool, list)).resolves.toEqual({ statements: 3, retries: 0, skipped: 2, rebuilt: 0 });
  expect(await indexState('items_v_idx')).toEqual({ valid: true });
});

test('an index another session is still building is waited for (lock retries), not dropped', async () => {
  const create = 'CREATE INDEX CONCURRENTLY IF NOT EXISTS items_slow2 ON items (slow_id(id))';
  const builder = await db.connect();
  const watcher = await db.connect();
  const building = builder.query(create);
  await backendRunning(watcher, 'CREATE INDEX CONCURRENTLY');
  // Wait until the index exists in the catalog (the build's first transaction committed).
  while (!(await indexState('items_slow2'))) await new Promise((r) => setTimeout(r, 20));
  const result = await runDdl(db.pool, [create], {
    lockTimeoutMs: 100,
    attempts: 200,
    sleep: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 100))),
  });
  await building;
  expect(result.retries).toBeGreaterThanOrEqual(1);
  expect(result).toMatchObject({ skipped: 1, rebuilt: 0 });
  expect(await indexState('items_slow2')).toEqual({ valid: true });
});
