/**
 * Pacing (`maxRowsPerSec`, deadline mode) in `backfillChunk`: batches hold at most a second's rows
 * and the chunk sleeps between them so that its rate stays below the limit, on top of
 * `backfill.pause`.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { createBackfillActivities } from '../../src/activities/backfill';
import type { LoadedMigration } from '../../src/definition/registry';
import { pacedBatchSize, paceDelayMs } from '../../src/engine/pacing';
import { ensureStateSchema } from '../../src/store/schema';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { activityEnv, createTouchFunction, failureOf, makeTable, quiet, register, runChunk, touchHistogram } from '../helpers/backfill';

let db: TestDatabase;
const migrations = new Map<string, LoadedMigration>();
let acts: ReturnType<typeof createBackfillActivities>;

beforeAll(async () => {
  db = await createTestDatabase('backfill_pacing');
  await createTouchFunction(db.pool);
  await ensureStateSchema(db.pool); // ferry's tables: a worker installs them at start-up; these tests run without one
  acts = createBackfillActivities({ pool: db.pool, migrations, log: () => undefined });
});

afterAll(() => db?.drop());

describe('maxRowsPerSec', () => {
  it('keeps the chunk below the rate, with the pause on top', async () => {
    await makeTable(db.pool, 'paced', 400);
    const ref = register(migrations, 'paced', 'paced', { batchSize: 1000, pause: '100ms', health: { autovacuum: false } });
    await new MockActivityEnvironment(undefined, quiet).run(acts.initBackfill, { ...ref, runId: 'r1', pass: 1 });
    const { env, beats } = activityEnv();
    const t0 = Date.now();
    const result = await runChunk(env, acts, { ...ref, runId: 'r1', partition: 0, maxMs: 60_000, maxRowsPerSec: 200 });
    const ms = Date.now() - t0;

    // batches of 200, 200, then an empty one: two sleeps of ~1 s (200 rows at 200/s) plus 100 ms each
    expect(result).toMatchObject({ done: true, rowsUpdated: 400, batches: 3, batchSize: 200 });
    expect(ms).toBeGreaterThanOrEqual(2200);
    expect((result.rowsScanned * 1000) / result.elapsedMs).toBeLessThanOrEqual(200);
    expect(beats.every((b) => (b.batchSize as number) <= 200)).toBe(true);
    expect(await touchHistogram(db.pool, 'paced')).toEqual({ '1': 400 });
  });

  it('rejects a rate that is not a positive number, for good', async () => {
    const ref = register(migrations, 'badrate', 'paced');
    const input = { ...ref, runId: 'r1', partition: 0, maxMs: 1000, maxRowsPerSec: 0 };
    const err = await failureOf(runChunk(new MockActivityEnvironment(undefined, quiet), acts, input));
    expect(err).toMatchObject({ type: 'BAD_INPUT', nonRetryable: true });
    expect(err.message).toContain('backfillChunk of migration "badrate" got maxRowsPerSec 0');
  });

  it('computes batch caps and sleeps', () => {
    expect(pacedBatchSize(1000)).toBe(1000);
    expect(pacedBatchSize(1000, 50)).toBe(50);
    expect(pacedBatchSize(10, 50)).toBe(10);
    expect(pacedBatchSize(1000, 0.5)).toBe(1);
    expect(paceDelayMs(50, 200, 100)).toBe(300);
    expect(paceDelayMs(50, 900, 100)).toBe(0);
    expect(paceDelayMs(50, 200)).toBe(0);
  });
});
