/**
 * Batch timeouts in `backfillChunk` (MockActivityEnvironment, real PostgreSQL): every batch runs
 * under lock_timeout and statement_timeout; a batch that hits one rolls back, the adaptive sizer
 * halves it and it runs again, and past the bound the chunk fails (retryable).
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { ApplicationFailure } from '@temporalio/common';
import pg from 'pg';
import { adaptiveBatchSizer, createBackfillActivities, type BatchSizer } from '../../src/activities/backfill';
import type { ActivityDeps } from '../../src/activities/context';
import { backfillTuning } from '../../src/engine/tuning';
import type { LoadedMigration } from '../../src/definition/registry';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import {
  activityEnv,
  createTouchFunction,
  delay,
  failureOf,
  makeTable,
  quiet,
  register,
  runChunk,
  touchHistogram,
} from '../helpers/backfill';

let db: TestDatabase;
const migrations = new Map<string, LoadedMigration>();
let deps: ActivityDeps;
/** What the sizers saw: `[ms, rows, timedOut]` per batch, by migration. */
const observed = new Map<string, [number, number, boolean][]>();

/** The default adaptive sizer, recording what it observes. */
function spiedSizer(m: LoadedMigration): BatchSizer {
  const t = backfillTuning(m.definition.backfill);
  const sizer = adaptiveBatchSizer({ start: t.startSize, targetMs: t.targetBatchMs, min: t.minBatchSize, max: t.maxBatchSize });
  const log: [number, number, boolean][] = [];
  observed.set(m.name, log);
  return { next: () => sizer.next(), observe: (ms, rows, timedOut) => (log.push([ms, rows, timedOut]), sizer.observe(ms, rows, timedOut)) };
}

beforeAll(async () => {
  db = await createTestDatabase('backfill_timeouts');
  await createTouchFunction(db.pool);
  deps = { pool: db.pool, migrations, log: () => undefined };
});

afterAll(() => db?.drop());

const acts = (options: Parameters<typeof createBackfillActivities>[1] = {}) =>
  createBackfillActivities(deps, { batchSizer: spiedSizer, health: { cacheMs: 0 }, ...options });

async function init(a: ReturnType<typeof acts>, ref: { name: string; specHash: string }) {
  await new MockActivityEnvironment(undefined, quiet).run(a.initBackfill, { ...ref, runId: 'r1', pass: 1 });
}

/** A connection holding the row lock of `id` in `table` until `release()`. */
async function holdRow(table: string, id: number): Promise<{ release: () => Promise<void> }> {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  await client.query('BEGIN');
  await client.query(`SELECT 1 FROM ${table} WHERE id = $1 FOR UPDATE`, [id]);
  return { release: async () => (await client.query('COMMIT'), await client.end()) };
}

describe('batch timeouts', () => {
  it('a batch blocked by a row lock times out, shrinks, and succeeds once the lock is released', async () => {
    await makeTable(db.pool, 'locked', 1000);
    const a = acts();
    const ref = register(migrations, 'locked', 'locked', { batchSize: 1000, lockTimeout: '1s', health: { autovacuum: false } });
    await init(a, ref);
    const lock = await holdRow('locked', 300);
    const running = runChunk(activityEnv().env, a, { ...ref, runId: 'r1', partition: 0, maxMs: 60_000 });
    while (!observed.get('locked')?.length) await delay(20); // the first batch (1000 rows) timed out on row 300
    await delay(200); // the second (500 rows, row 300 too) is now waiting for the lock, well inside its 1 s
    await lock.release();
    const result = await running;

    expect(result).toMatchObject({ done: true, rowsUpdated: 1000, rowsFailed: 0 });
    expect(await touchHistogram(db.pool, 'locked')).toEqual({ '1': 1000 });
    const log = observed.get('locked')!;
    expect(log[0]).toEqual([expect.any(Number), 0, true]); // timed out, nothing applied
    expect(log.find((o) => !o[2])?.[1]).toBe(500); // the first batch that went through was half the size
    const { rows } = await db.pool.query(`SELECT count(*)::int AS n FROM ferry.failed_rows WHERE migration = 'locked'`);
    expect(rows[0].n).toBe(0); // a timeout is not a failed row
  });

  it('shrinks on statement_timeout until a batch fits', async () => {
    // ~4 ms a row: 1,200 and 600 rows need 4.8 s and 2.4 s, over the 1.8 s statement_timeout; 300 rows
    // need 1.2 s and fit. The margins (0.6 s each way) keep a loaded machine from changing the outcome.
    await makeTable(db.pool, 'slowrows', 1200);
    const a = acts();
    const ref = register(migrations, 'slowrows', 'slowrows', {
      batchSize: 1200,
      targetBatchMs: 100,
      statementTimeout: '1800ms',
      set: 'data = CASE WHEN pg_sleep(0.004) IS NULL THEN NULL ELSE raw::jsonb END',
      health: { autovacuum: false },
    });
    await init(a, ref);
    const result = await runChunk(activityEnv().env, a, { ...ref, runId: 'r1', partition: 0, maxMs: 120_000 });
    expect(result).toMatchObject({ done: true, rowsUpdated: 1200 });
    expect(await touchHistogram(db.pool, 'slowrows')).toEqual({ '1': 1200 });
    const log = observed.get('slowrows')!;
    expect(log.slice(0, 2).map((o) => o[2])).toEqual([true, true]); // 1,200 and 600 rows time out; 300 fit
    expect(log[2]).toEqual([expect.any(Number), 300, false]);
  }, 120_000);

  it('fails the chunk (retryable) after too many timeouts in a row, naming the table and what to do', async () => {
    await makeTable(db.pool, 'stuck', 100);
    const a = acts({ timeoutRetries: 2 });
    const ref = register(migrations, 'stuck', 'stuck', { batchSize: 100, lockTimeout: '100ms', health: { autovacuum: false } });
    await init(a, ref);
    const lock = await holdRow('stuck', 1);
    try {
      const input = { ...ref, runId: 'r1', partition: 0, maxMs: 60_000 };
      const err = await failureOf(runChunk(new MockActivityEnvironment(undefined, quiet), a, input));
      expect(err).toBeInstanceOf(ApplicationFailure);
      expect(err).toMatchObject({ type: 'BATCH_TIMEOUT', nonRetryable: false });
      expect(err.message).toContain(
        'backfill of migration "stuck" on table "public"."stuck": 3 batches in a row hit lock_timeout (100ms), down to 13 rows a batch',
      );
      expect(err.message).toContain('raise backfill.lockTimeout');
    } finally {
      await lock.release();
    }
    expect(await touchHistogram(db.pool, 'stuck')).toEqual({ '0': 100 });
  });
});
