/**
 * The backfill engine against a real PostgreSQL, its activities run in MockActivityEnvironment
 * (which records heartbeats and can cancel). Every test table counts the updates of each row with
 * a trigger (`touches`), so "every row exactly once" is checked row by row.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import pg from 'pg';
import { createBackfillActivities, fixedBatchSizer, type BackfillChunkInput, type ChunkResult } from '../../src/activities/backfill';
import { boundsFromCuts, endAt, evenCuts } from '../../src/engine/partitions';
import { isRowError } from '../../src/engine/isolate';
import { median } from '../../src/engine/tally';
import { SET_STATEMENT_ROWS } from '../../src/engine/set-mode';
import type { ActivityDeps, MigrationRef } from '../../src/activities/context';
import type { MigrationDefinitionInput } from '../../src/definition/define';
import { createRateLimiter } from '../../src/engine/rate-limiter';
import type { LoadedMigration } from '../../src/definition/registry';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { activityEnv, createTouchFunction, quiet, register, touchHistogram as touchesOf } from '../helpers/backfill';

let db: TestDatabase;
const migrations = new Map<string, LoadedMigration>();
let deps: ActivityDeps;
let acts: ReturnType<typeof createBackfillActivities>;

beforeAll(async () => {
  db = await createTestDatabase('backfill');
  await createTouchFunction(db.pool);
  deps = { pool: db.pool, migrations, log: () => undefined };
  // Fixed batches, so that batch counts and checkpoint keys are exact; the adaptive sizer (the
  // default) is tested in test/backfill/batch-size.test.ts and test/activities/backfill-timeouts.test.ts.
  acts = createBackfillActivities(deps, { batchSizer: (m) => fixedBatchSizer(m.definition.backfill.batchSize) });
});

afterAll(() => db?.drop());

/* ------------------------------------------------------------------ helpers */

/**
 * A test table: id, raw (JSON text; `badRaw` for `badIds`), data (to fill from raw), touches
 * (a trigger counts the updates of each row). `ids` is a set-returning SQL expression.
 */
async function makeTable(table: string, ids: string, badIds: number[] = [], badRaw = 'not json'): Promise<void> {
  await db.pool.query(`CREATE TABLE ${table} (id bigint PRIMARY KEY, raw text, data jsonb, touches int NOT NULL DEFAULT 0)`);
  await db.pool.query(`CREATE TRIGGER touch BEFORE UPDATE ON ${table} FOR EACH ROW EXECUTE FUNCTION count_touch()`);
  await db.pool.query(
    `INSERT INTO ${table} (id, raw)
     SELECT g, CASE WHEN g = ANY($1::int[]) THEN $2::text ELSE json_build_object('n', g)::text END FROM ${ids} g`,
    [badIds, badRaw],
  );
  await db.pool.query(`ANALYZE ${table}`);
}

type Backfill = Parameters<typeof register>[3];

/** Registers a migration of `table` (default change: data = raw::jsonb where data IS NULL). */
function migration(name: string, table: string, backfill: Backfill = {}, key?: string[]): MigrationRef {
  return register(migrations, name, table, backfill, key);
}

function chunk(input: BackfillChunkInput, env = activityEnv().env): Promise<ChunkResult> {
  return env.run(acts.backfillChunk, input);
}

/** Runs chunks of one partition until it is done; returns every chunk's result. */
async function runToEnd(ref: MigrationRef, runId: string, partition = 0, maxMs = 60_000): Promise<ChunkResult[]> {
  const results: ChunkResult[] = [];
  for (let i = 0; i < 1000; i++) {
    const r = await chunk({ ...ref, runId, partition, maxMs });
    results.push(r);
    if (r.done) return results;
  }
  throw new Error('backfill did not finish in 1000 chunks');
}

async function init(ref: MigrationRef, runId: string, pass = 1): Promise<{ partitions: number; rowsEstimated: number }> {
  return new MockActivityEnvironment(undefined, quiet).run(acts.initBackfill, { ...ref, runId, pass });
}

/** How many rows of `table` were updated 0, 1, 2... times. */
const touchHistogram = (table: string, where?: string) => touchesOf(db.pool, table, where);

async function checkpoint(name: string, runId: string, partition = 0) {
  const { rows } = await db.pool.query(
    `SELECT pass, last_key, batches::int, rows_scanned::int, rows_updated::int, rows_failed::int, done, stop_requested
       FROM ferry.backfill_checkpoints WHERE migration = $1 AND run_id = $2 AND partition = $3`,
    [name, runId, partition],
  );
  return rows[0];
}

const sum = (rs: ChunkResult[], k: 'rowsScanned' | 'rowsUpdated' | 'rowsFailed' | 'batches') => rs.reduce((s, r) => s + r[k], 0);

const nextHeartbeat = (env: MockActivityEnvironment) => new Promise((resolve) => env.once('heartbeat', resolve));

/* ------------------------------------------------------------------ tests */

describe('set mode', () => {
  it('backfills every row exactly once over several chunks, heartbeating counters only', async () => {
    await makeTable('chunks', 'generate_series(1, 5000)');
    const ref = migration('chunks', 'chunks', { batchSize: 100, pause: '10ms' });
    expect(await init(ref, 'r1')).toEqual({ partitions: 1, rowsEstimated: 5000 });

    const { env, beats } = activityEnv();
    const results: ChunkResult[] = [];
    for (let r: ChunkResult | undefined; !r?.done;) results.push((r = await chunk({ ...ref, runId: 'r1', partition: 0, maxMs: 150 }, env)));

    expect(results.length).toBeGreaterThan(1);
    expect(results.slice(0, -1).every((r) => r.stopped === 'time')).toBe(true);
    expect(results[results.length - 1].stopped).toBe('done');
    expect(await touchHistogram('chunks')).toEqual({ '1': 5000 });
    expect(sum(results, 'rowsScanned')).toBe(5000);
    expect(sum(results, 'rowsUpdated')).toBe(5000);
    expect(sum(results, 'batches')).toBe(51); // 50 full batches, then one short (empty) one
    expect(await acts.backfillStatus({ name: 'chunks', runId: 'r1' })).toEqual({
      rowsScanned: 5000,
      rowsUpdated: 5000,
      rowsFailed: 0,
      done: true,
    });
    const allowed = [
      'batchSize',
      'batches',
      'contendedBatches',
      'contendedMs',
      'partition',
      'rowsFailed',
      'rowsScanned',
      'rowsUpdated',
      'throttledMs',
    ];
    for (const { throttleReason, ...beat } of beats) {
      expect(Object.keys(beat).sort()).toEqual(allowed);
      expect(Object.values(beat).every((v) => typeof v === 'number')).toBe(true);
      expect(throttleReason === undefined || typeof throttleReason === 'string').toBe(true); // autovacuum may run on the table
    }
    for (const r of results) expect(Object.values(r).every((v) => typeof v !== 'object')).toBe(true);
    expect(results[0].batchMsMedian).toBeGreaterThan(0);
  });

  it('resumes after a cancelled chunk from the checkpoint, without redoing a batch', async () => {
    await makeTable('resume', 'generate_series(1, 3000)');
    // One transaction a batch (maxLockMs above any batch), so that batches and checkpoint advances match.
    const ref = migration('resume', 'resume', { batchSize: 100, pause: '30ms', maxLockMs: 60_000 });
    await init(ref, 'r1');

    const { env } = activityEnv();
    let beats = 0;
    env.on('heartbeat', () => ++beats === 3 && env.cancel());
    await expect(chunk({ ...ref, runId: 'r1', partition: 0, maxMs: 60_000 }, env)).rejects.toBeInstanceOf(CancelledFailure);

    const cp = await checkpoint('resume', 'r1');
    expect(cp.batches).toBe(3);
    expect(cp.last_key).toEqual(['300']);
    expect(await touchHistogram('resume')).toEqual({ '0': 2700, '1': 300 });

    const rest = await runToEnd(ref, 'r1');
    expect(sum(rest, 'rowsUpdated')).toBe(2700);
    expect(await touchHistogram('resume')).toEqual({ '1': 3000 });
  });

  it('lets a second chunk on the same partition supersede the first, which then applies nothing', async () => {
    await makeTable('zombie', 'generate_series(1, 2000)');
    const ref = migration('zombie', 'zombie', { batchSize: 100, pause: '150ms' });
    await init(ref, 'r1');
    const input = { ...ref, runId: 'r1', partition: 0, maxMs: 60_000 };

    const a = activityEnv();
    const first = chunk(input, a.env);
    await nextHeartbeat(a.env); // A did one batch and sleeps
    const [resultA, resultB] = await Promise.all([first, chunk(input)]);

    expect(resultA).toMatchObject({ stopped: 'superseded', batches: 1, rowsUpdated: 100, done: false });
    expect(resultB).toMatchObject({ stopped: 'done', rowsUpdated: 1900 });
    expect(await touchHistogram('zombie')).toEqual({ '1': 2000 });
  });

  it('returns within one batch of requestStop, and the next chunk goes on', async () => {
    await makeTable('stop', 'generate_series(1, 3000)');
    const ref = migration('stop', 'stop', { batchSize: 100, pause: '50ms' });
    await init(ref, 'r1');

    const { env } = activityEnv();
    const running = chunk({ ...ref, runId: 'r1', partition: 0, maxMs: 60_000 }, env);
    await nextHeartbeat(env);
    await nextHeartbeat(env);
    await acts.requestStop({ name: 'stop', runId: 'r1' });
    const result = await running;

    expect(result.stopped).toBe('stop-requested');
    expect(result.batches).toBeLessThanOrEqual(3);
    expect((await checkpoint('stop', 'r1')).stop_requested).toBe(true);
    await runToEnd(ref, 'r1');
    expect(await touchHistogram('stop')).toEqual({ '1': 3000 });
  });

  it('isolates bad rows: records and skips them while their batch-mates apply', async () => {
    const bad = [17, 500, 501, 999];
    await makeTable('bad', 'generate_series(1, 1000)', bad);
    const ref = migration('bad', 'bad', { batchSize: 100, maxFailedRows: 10 });
    await init(ref, 'r1');

    const results = await runToEnd(ref, 'r1');

    expect(sum(results, 'rowsFailed')).toBe(4);
    expect(sum(results, 'rowsUpdated')).toBe(996);
    expect(await touchHistogram('bad', 'id <> ALL(ARRAY[17, 500, 501, 999])')).toEqual({ '1': 996 });
    expect(await touchHistogram('bad', 'id = ANY(ARRAY[17, 500, 501, 999])')).toEqual({ '0': 4 });
    const { rows } = await db.pool.query(
      `SELECT key, sqlstate, error FROM ferry.failed_rows WHERE migration = 'bad' AND run_id = 'r1' ORDER BY key[1]::int`,
    );
    expect(rows.map((r) => r.key)).toEqual([['17'], ['500'], ['501'], ['999']]);
    expect(rows.every((r) => r.sqlstate === '22P02' && /json/.test(r.error))).toBe(true);
    expect(await acts.backfillStatus({ name: 'bad', runId: 'r1' })).toMatchObject({ rowsFailed: 4, rowsUpdated: 996 });
  });

  it('fails for good once failed rows exceed maxFailedRows, naming the query to run next', async () => {
    const bad = Array.from({ length: 20 }, (_, i) => 10 * (i + 1));
    await makeTable('toomany', 'generate_series(1, 400)', bad);
    const ref = migration('toomany', 'toomany', { batchSize: 50, maxFailedRows: 5 });
    await init(ref, 'r1');

    const err = await chunk({ ...ref, runId: 'r1', partition: 0, maxMs: 60_000 }).catch((e) => e);

    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err.type).toBe('TOO_MANY_FAILED_ROWS');
    expect(err.nonRetryable).toBe(true);
    expect(err.message).toContain('migration "toomany" has 10 failed rows');
    expect(err.message).toContain("SELECT * FROM ferry.failed_rows WHERE migration = 'toomany'");
    // the batches that recorded them committed; a new attempt fails at once
    await expect(chunk({ ...ref, runId: 'r1', partition: 0, maxMs: 60_000 })).rejects.toThrow(/10 failed rows/);
  });

  it('fails for good when the backfill SQL itself is wrong', async () => {
    await makeTable('badsql', 'generate_series(1, 10)');
    const ref = migration('badsql', 'badsql', { set: 'no_such_column = 1' });
    await init(ref, 'r1');
    const err = await chunk({ ...ref, runId: 'r1', partition: 0, maxMs: 60_000 }).catch((e) => e);
    expect(err).toMatchObject({ type: 'INVALID_DEFINITION', nonRetryable: true });
    expect(err.message).toMatch(/migration "badsql" on table "public"."badsql".*no_such_column/);
  });

  it('handles a composite key on "Mixed Case"."Odd-Table", in 3 partitions, each row once', async () => {
    await db.pool.query(`CREATE SCHEMA "Mixed Case"`);
    await db.pool.query(`CREATE TABLE "Mixed Case"."Odd-Table" ("Tenant Id" int, "Slug" text, raw text, data jsonb,
      touches int NOT NULL DEFAULT 0, PRIMARY KEY ("Tenant Id", "Slug"))`);
    await db.pool.query(`CREATE TRIGGER touch BEFORE UPDATE ON "Mixed Case"."Odd-Table" FOR EACH ROW EXECUTE FUNCTION count_touch()`);
    await db.pool.query(`INSERT INTO "Mixed Case"."Odd-Table" ("Tenant Id", "Slug", raw)
      SELECT t, 'slug ' || s, '{"ok": true}' FROM generate_series(1, 50) t, generate_series(1, 40) s`);
    const ref = migration('odd', '"Mixed Case"."Odd-Table"', { batchSize: 75, concurrency: 3 });

    expect((await init(ref, 'r1')).partitions).toBe(3);
    const results = await Promise.all([0, 1, 2].map((p) => runToEnd(ref, 'r1', p)));

    expect(await touchHistogram('"Mixed Case"."Odd-Table"')).toEqual({ '1': 2000 });
    expect(results.map((r) => sum(r, 'rowsScanned')).reduce((a, b) => a + b)).toBe(2000);
    expect(results.every((r) => sum(r, 'rowsScanned') > 0)).toBe(true);
  });

  it(`runs a batch of more than ${SET_STATEMENT_ROWS} rows as several statements: composite key, partitions, bad rows`, async () => {
    await db.pool.query(
      `CREATE TABLE big_batches ("T" int, "S" text, raw text, data jsonb, touches int NOT NULL DEFAULT 0, PRIMARY KEY ("T", "S"))`,
    );
    await db.pool.query(`CREATE TRIGGER touch BEFORE UPDATE ON big_batches FOR EACH ROW EXECUTE FUNCTION count_touch()`);
    await db.pool.query(`INSERT INTO big_batches ("T", "S", raw)
      SELECT t, lpad(s::text, 4, '0'), CASE WHEN (t, s) IN ((3, 700), (20, 5)) THEN 'not json' ELSE '{"ok": true}' END
        FROM generate_series(1, 40) t, generate_series(1, 1000) s`);
    const size = 2 * SET_STATEMENT_ROWS + 1234; // three statements a batch, the last one short
    // One transaction a batch (maxLockMs above any batch): this test counts a batch's statements.
    const ref = migration('big-batches', 'big_batches', { batchSize: size, concurrency: 2, maxFailedRows: 5, maxLockMs: 60_000 });

    expect((await init(ref, 'r1')).partitions).toBe(2);
    const results = await Promise.all([0, 1].map((p) => runToEnd(ref, 'r1', p)));

    expect(await touchHistogram('big_batches', `("T", "S") NOT IN ((3, '0700'), (20, '0005'))`)).toEqual({ '1': 39_998 });
    expect(await touchHistogram('big_batches', `("T", "S") IN ((3, '0700'), (20, '0005'))`)).toEqual({ '0': 2 });
    const all = results.flat();
    expect(sum(all, 'rowsScanned')).toBe(40_000);
    expect(sum(all, 'rowsFailed')).toBe(2);
    const parts = await Promise.all([0, 1].map((p) => checkpoint('big-batches', 'r1', p)));
    for (const [i, c] of parts.entries()) {
      expect(c.rows_scanned).toBe(sum(results[i], 'rowsScanned'));
      expect(c.batches).toBe(Math.floor(c.rows_scanned / size) + 1); // full batches, then one short one
    }
  });

  it('splits a non-integer key by sampling; concurrency 3 covers every row once', async () => {
    await db.pool.query(`CREATE TABLE uuids (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), raw text, data jsonb,
      touches int NOT NULL DEFAULT 0)`);
    await db.pool.query(`CREATE TRIGGER touch BEFORE UPDATE ON uuids FOR EACH ROW EXECUTE FUNCTION count_touch()`);
    await db.pool.query(`INSERT INTO uuids (raw) SELECT '[1]' FROM generate_series(1, 3000)`);
    await db.pool.query('ANALYZE uuids');
    const ref = migration('uuids', 'uuids', { batchSize: 200, concurrency: 3 });

    expect((await init(ref, 'r1')).partitions).toBe(3);
    const results = await Promise.all([0, 1, 2].map((p) => runToEnd(ref, 'r1', p)));

    expect(await touchHistogram('uuids')).toEqual({ '1': 3000 });
    expect(results.every((r) => sum(r, 'rowsScanned') > 500)).toBe(true);
  });

  it('handles rows inserted from another connection during the backfill (keys above the cursor)', async () => {
    await makeTable('inserts', 'generate_series(2, 6000, 2)'); // even ids
    const ref = migration('inserts', 'inserts', { batchSize: 100, pause: '30ms' });
    await init(ref, 'r1');
    const first = await chunk({ ...ref, runId: 'r1', partition: 0, maxMs: 100 });
    expect(first.done).toBe(false);
    const cursor = Number((await checkpoint('inserts', 'r1')).last_key[0]);

    const { env } = activityEnv();
    const running = runToEndIn(env, { ...ref, runId: 'r1', partition: 0, maxMs: 60_000 });
    await nextHeartbeat(env);
    const other = new pg.Client({ connectionString: db.url });
    await other.connect();
    for (let lo = 3001; lo < 6000; lo += 300) {
      // odd ids, above the cursor, 150 rows per transaction
      await other.query(`INSERT INTO inserts (id, raw) SELECT g, '{}' FROM generate_series($1::int, $2::int, 2) g`, [lo, lo + 298]);
    }
    await other.end();
    await running;

    expect(cursor).toBeLessThan(3000);
    expect(await touchHistogram('inserts')).toEqual({ '1': 4500 });
  });

  it("ends at the table's last key when the pass started: rows inserted above it are left to the dual write, and a catch-up pass reaches them", async () => {
    await makeTable('tail', 'generate_series(1, 1000)');
    const ref = migration('tail', 'tail', { batchSize: 100, concurrency: 3 });
    expect(await init(ref, 'r1')).toMatchObject({ partitions: 3 });
    const uppers = await db.pool.query(`SELECT upper_key FROM ferry.backfill_checkpoints WHERE migration = 'tail' ORDER BY partition`);
    expect(uppers.rows.map((r) => r.upper_key)).toEqual([['333'], ['666'], ['1000']]);
    // Inserts above the last key, as an application inserts while the backfill runs (its rows in
    // both shapes already, in life): the backfill does not chase them.
    await db.pool.query(`INSERT INTO tail (id, raw) SELECT g, '{}' FROM generate_series(1001, 3000) g`);
    const results = await Promise.all([0, 1, 2].map((p) => runToEnd(ref, 'r1', p)));
    expect(results.flat().reduce((n, r) => n + r.rowsScanned, 0)).toBe(1000);
    expect(await touchHistogram('tail', 'id <= 1000')).toEqual({ '1': 1000 });
    expect(await touchHistogram('tail', 'id > 1000')).toEqual({ '0': 2000 });

    await init(ref, 'r1', 2); // verify's catch-up pass ends at the last key now
    expect((await checkpoint('tail', 'r1', 2)).pass).toBe(2);
    await Promise.all([0, 1, 2].map((p) => runToEnd(ref, 'r1', p)));
    expect(await touchHistogram('tail')).toEqual({ '1': 3000 });
  });

  it('ends at the last key without a NULL when the key is a nullable column that holds NULLs', async () => {
    await makeTable('nullkey', 'generate_series(1, 300)');
    await db.pool.query(`ALTER TABLE nullkey ADD COLUMN code int UNIQUE`);
    await db.pool.query(`ALTER TABLE nullkey DISABLE TRIGGER touch`); // not counted as the backfill's
    await db.pool.query(`UPDATE nullkey SET code = CASE WHEN id % 50 = 0 THEN NULL ELSE id END`);
    await db.pool.query(`ALTER TABLE nullkey ENABLE TRIGGER touch`);
    const ref = migration('nullkey', 'nullkey', { batchSize: 40 }, ['code']);
    await init(ref, 'r1');
    expect((await db.pool.query(`SELECT upper_key FROM ferry.backfill_checkpoints WHERE migration = 'nullkey'`)).rows).toEqual([
      { upper_key: ['299'] },
    ]);
    await runToEnd(ref, 'r1');
    expect(await touchHistogram('nullkey', 'code IS NOT NULL')).toEqual({ '1': 294 });
  });

  it('has nothing to do on a table empty when the pass started, however many rows arrive; a catch-up pass reaches them', async () => {
    await makeTable('empty_then', 'generate_series(1, 0)');
    const ref = migration('empty-then', 'empty_then', { batchSize: 100, concurrency: 2 });
    expect(await init(ref, 'r1')).toMatchObject({ partitions: 1 });
    await db.pool.query(`INSERT INTO empty_then (id, raw) SELECT g, '{}' FROM generate_series(1, 500) g`);
    expect(sum(await runToEnd(ref, 'r1'), 'rowsScanned')).toBe(0);
    expect(await touchHistogram('empty_then')).toEqual({ '0': 500 });

    await init(ref, 'r1', 2);
    expect(sum(await runToEnd(ref, 'r1'), 'rowsScanned')).toBe(500);
    expect(await touchHistogram('empty_then')).toEqual({ '1': 500 });
  });

  it('initBackfill is idempotent for a pass, and a greater pass restarts from the beginning keeping counters', async () => {
    await makeTable('passes', 'generate_series(1, 500)');
    const ref = migration('passes', 'passes', { batchSize: 100 });
    await init(ref, 'r1');
    await chunk({ ...ref, runId: 'r1', partition: 0, maxMs: 0 }); // no batch: time is up at once
    await runToEnd(ref, 'r1');
    await init(ref, 'r1'); // a re-run after a crash keeps the rows as they are
    expect(await checkpoint('passes', 'r1')).toMatchObject({ pass: 1, done: true, last_key: ['500'], rows_updated: 500 });

    await db.pool.query(`INSERT INTO passes (id, raw) VALUES (10000, '{}')`);
    await init(ref, 'r1', 2);
    expect(await checkpoint('passes', 'r1')).toMatchObject({ pass: 2, done: false, last_key: null, rows_updated: 500 });
    const pass2 = await runToEnd(ref, 'r1');
    expect(sum(pass2, 'rowsUpdated')).toBe(1);
    expect(await touchHistogram('passes')).toEqual({ '1': 501 });
    expect(await acts.backfillStatus({ name: 'passes', runId: 'r1' })).toMatchObject({ rowsScanned: 1001, rowsUpdated: 501 });
  });

  it('backfills 100k rows (batch 1000) and reports the rate', async () => {
    await makeTable('big', 'generate_series(1, 100000)');
    const ref = migration('big', 'big', { batchSize: 1000 });
    await init(ref, 'r1');
    const t0 = Date.now();
    const results = await runToEnd(ref, 'r1');
    const ms = Date.now() - t0;
    console.log(
      `set-mode backfill: 100000 rows in ${ms} ms = ${Math.round(100_000 / (ms / 1000))} rows/s, ` +
        `median batch ${results[0].batchMsMedian} ms`,
    );
    expect(await touchHistogram('big')).toEqual({ '1': 100000 });
  });
});

/** Runs chunks of one partition in one environment until done. */
async function runToEndIn(env: MockActivityEnvironment, input: BackfillChunkInput): Promise<void> {
  for (let r: ChunkResult | undefined; !r?.done;) r = await chunk(input, env);
}

describe('process mode', () => {
  /** A `process` that writes through ctx.client, calling the rate limit once per row. */
  const writeRows: MigrationDefinitionInput['backfill']['process'] = async (rows, ctx) => {
    for (const row of rows) {
      if (row.raw === 'boom') throw new Error(`cannot handle row ${row.id}`);
      await ctx.rateLimit();
    }
    await ctx.client.query(`UPDATE proc SET data = raw::jsonb WHERE id = ANY($1::bigint[])`, [rows.map((r) => r.id)]);
  };

  it('hands the rows to process in the batch transaction, under the rate limit, isolating rows it throws on', async () => {
    await makeTable('proc', 'generate_series(1, 60)', [7, 42], 'boom');
    const ref = migration('proc', 'proc', { set: undefined, process: writeRows, batchSize: 25, rateLimit: { perSecond: 50 } });
    await init(ref, 'r1');

    const t0 = Date.now();
    const results = await runToEnd(ref, 'r1');
    const ms = Date.now() - t0;

    expect(sum(results, 'rowsUpdated')).toBe(58);
    expect(sum(results, 'rowsFailed')).toBe(2);
    // 58 rows pass the limiter at 50/s, plus retries while bisecting: at least ~1.1 s
    expect(ms).toBeGreaterThanOrEqual(1000);
    expect(await touchHistogram('proc', 'id NOT IN (7, 42)')).toEqual({ '1': 58 });
    const { rows } = await db.pool.query(
      `SELECT key, sqlstate, error FROM ferry.failed_rows WHERE migration = 'proc' ORDER BY key[1]::int`,
    );
    expect(rows).toEqual([
      { key: ['7'], sqlstate: null, error: 'cannot handle row 7' },
      { key: ['42'], sqlstate: null, error: 'cannot handle row 42' },
    ]);
  });

  it('finishes the in-flight batch when cancelled, then rethrows the cancellation', async () => {
    await makeTable('proccancel', 'generate_series(1, 100)');
    const { env } = activityEnv();
    const ref = migration('proccancel', 'proccancel', {
      set: undefined,
      batchSize: 10,
      process: async (rows, ctx) => {
        env.cancel(); // the worker shuts down mid-batch; this batch still commits
        await ctx.client.query(`UPDATE proccancel SET data = '{}' WHERE id = ANY($1::bigint[])`, [rows.map((r) => r.id)]);
      },
    });
    await init(ref, 'r1');

    await expect(chunk({ ...ref, runId: 'r1', partition: 0, maxMs: 60_000 }, env)).rejects.toBeInstanceOf(CancelledFailure);
    expect(await checkpoint('proccancel', 'r1')).toMatchObject({ batches: 1, last_key: ['10'], rows_updated: 10 });
    expect(await touchHistogram('proccancel')).toEqual({ '0': 90, '1': 10 });
  });

  it('keeps heartbeating during a long batch, and requestStop during it returns after that batch', async () => {
    await makeTable('slow', 'generate_series(1, 30)');
    const ref = migration('slow', 'slow', {
      set: undefined,
      batchSize: 10,
      process: async (rows, ctx) => {
        await new Promise((r) => setTimeout(r, 2500));
        await ctx.client.query(`UPDATE slow SET data = '{}' WHERE id = ANY($1::bigint[])`, [rows.map((r) => r.id)]);
      },
    });
    await init(ref, 'r1');

    const { env, beats } = activityEnv(); // heartbeat timeout 3 s: a beat every second
    const running = chunk({ ...ref, runId: 'r1', partition: 0, maxMs: 60_000 }, env);
    await nextHeartbeat(env);
    const t0 = Date.now();
    await acts.requestStop({ name: 'slow', runId: 'r1' });
    expect(Date.now() - t0).toBeLessThan(1000); // does not queue behind the running batch
    const result = await running;

    expect(beats.length).toBeGreaterThanOrEqual(2);
    expect(result).toMatchObject({ stopped: 'stop-requested', batches: 1, rowsUpdated: 10 });
  });

  it('rolls a batch back when a new pass starts under it', async () => {
    await makeTable('repass', 'generate_series(1, 30)');
    const ref = migration('repass', 'repass', {
      set: undefined,
      batchSize: 10,
      process: async (rows, ctx) => {
        await new Promise((r) => setTimeout(r, 1000));
        await ctx.client.query(`UPDATE repass SET data = '{}' WHERE id = ANY($1::bigint[])`, [rows.map((r) => r.id)]);
      },
    });
    await init(ref, 'r1');

    const running = chunk({ ...ref, runId: 'r1', partition: 0, maxMs: 60_000 });
    await new Promise((r) => setTimeout(r, 300));
    await init(ref, 'r1', 2);

    expect(await running).toMatchObject({ stopped: 'superseded', batches: 0, rowsUpdated: 0 });
    expect(await touchHistogram('repass')).toEqual({ '0': 30 });
    expect(await checkpoint('repass', 'r1')).toMatchObject({ pass: 2, batches: 0, last_key: null });
  });
});

describe('pure helpers', () => {
  it('splits an integer span into contiguous cuts', () => {
    expect(evenCuts(1n, 100n, 4)).toEqual([25n, 50n, 75n]);
    expect(evenCuts(5n, 6n, 4)).toEqual([5n]);
    expect(evenCuts(7n, 7n, 3)).toEqual([]);
    expect(boundsFromCuts([['25'], ['50']])).toEqual([
      { lower: null, upper: ['25'] },
      { lower: ['25'], upper: ['50'] },
      { lower: ['50'], upper: null },
    ]);
    expect(endAt(boundsFromCuts([['25']]), ['90'])).toEqual([
      { lower: null, upper: ['25'] },
      { lower: ['25'], upper: ['90'] },
    ]);
    expect(endAt([{ lower: null, upper: null }], null)).toEqual([{ lower: null, upper: null }]); // an empty table
  });

  it('takes the median of batch durations', () => {
    expect(median([])).toBe(0);
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });

  it('isolates data errors and process errors, never connection, lock or serialization errors', () => {
    const pgError = (code: string) => Object.assign(new Error(code), { code, severity: 'ERROR' });
    expect(isRowError(pgError('22P02'), 'set')).toBe(true);
    expect(isRowError(pgError('23505'), 'set')).toBe(true);
    for (const code of ['08006', '40001', '40P01', '55P03', '57014']) expect(isRowError(pgError(code), 'process')).toBe(false);
    expect(isRowError(new Error('api said no'), 'process')).toBe(true);
    expect(isRowError(new Error('Connection terminated'), 'set')).toBe(false);
    const aborted = AbortSignal.abort();
    expect(isRowError(pgError('22P02'), 'set', aborted)).toBe(false);
  });

  it('spaces calls by the rate and gives up waiting when aborted', async () => {
    let now = 0;
    const limit = createRateLimiter(10, { now: () => now });
    const t0 = Date.now();
    await limit(); // the first call goes at once
    await limit(); // the second waits 100 ms
    expect(Date.now() - t0).toBeGreaterThanOrEqual(90);
    now = 10_000; // after a quiet spell, no wait
    const t1 = Date.now();
    await limit();
    expect(Date.now() - t1).toBeLessThan(50);
    const controller = new AbortController();
    const waiting = limit(controller.signal);
    controller.abort(new Error('stopped'));
    await expect(waiting).rejects.toThrow('stopped');
    await expect(createRateLimiter(undefined)()).resolves.toBeUndefined();
  });
});
