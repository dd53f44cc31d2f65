/**
 * Health throttling in `backfillChunk` (MockActivityEnvironment, real PostgreSQL): while a check
 * says unhealthy no batch runs, the chunk heartbeats the throttled time and reason, and it goes on
 * once healthy; a stop request or the end of its time ends the wait.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { createBackfillActivities, type ChunkResult } from '../../src/activities/backfill';
import type { ActivityDeps } from '../../src/activities/context';
import type { LoadedMigration } from '../../src/definition/registry';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { activityEnv, createTouchFunction, delay, makeTable, quiet, register, runChunk, touchHistogram } from '../helpers/backfill';

let db: TestDatabase;
const migrations = new Map<string, LoadedMigration>();
let acts: ReturnType<typeof createBackfillActivities>;

beforeAll(async () => {
  db = await createTestDatabase('backfill_health');
  await createTouchFunction(db.pool);
  const deps: ActivityDeps = { pool: db.pool, migrations, log: () => undefined };
  acts = createBackfillActivities(deps, { health: { cacheMs: 0, backoff: { initialMs: 100, maxMs: 200, sliceMs: 50 } } });
});

afterAll(() => db?.drop());

const init = (ref: { name: string; specHash: string }) =>
  new MockActivityEnvironment(undefined, quiet).run(acts.initBackfill, { ...ref, runId: 'r1', pass: 1 });

/** A check function that says unhealthy until `open()` is called. */
function valve() {
  let healthy = false;
  return { fn: async () => healthy, open: () => (healthy = true) };
}

describe('backfillChunk under health checks', () => {
  it('waits while a check says unhealthy, reports the time and reason, and continues after', async () => {
    await makeTable(db.pool, 'gated', 500);
    const gate = valve();
    const ref = register(migrations, 'gated', 'gated', {
      batchSize: 100,
      health: { autovacuum: false, checks: [{ name: 'business-hours', fn: gate.fn }] },
    });
    await init(ref);
    const { env, beats } = activityEnv();
    const running = runChunk(env, acts, { ...ref, runId: 'r1', partition: 0, maxMs: 60_000 });
    await delay(800);
    expect(await touchHistogram(db.pool, 'gated')).toEqual({ '0': 500 }); // no batch while unhealthy
    gate.open();
    const result: ChunkResult = await running;

    expect(result).toMatchObject({
      done: true,
      stopped: 'done',
      rowsUpdated: 500,
      throttleReason: 'check "business-hours" returned false',
    });
    expect(result.throttledMs).toBeGreaterThanOrEqual(600);
    expect(result.batchSize).toBeGreaterThan(100); // the adaptive sizer grew the batches
    expect(await touchHistogram(db.pool, 'gated')).toEqual({ '1': 500 });
    const waiting = beats.filter((b) => b.throttleReason !== undefined && b.batches === 0);
    expect(waiting.length).toBeGreaterThan(3); // heartbeats flow while it waits
    expect(waiting[waiting.length - 1]).toMatchObject({ throttleReason: 'check "business-hours" returned false', rowsScanned: 0 });
    expect(waiting[waiting.length - 1].throttledMs as number).toBeGreaterThan(0);
  });

  it('fails closed: a check that throws holds the chunk, with its message as the reason', async () => {
    await makeTable(db.pool, 'throws', 50);
    let calls = 0;
    const fn = async () => {
      if (++calls <= 3) throw new Error('status page unreachable');
      return true;
    };
    const ref = register(migrations, 'throws', 'throws', { health: { autovacuum: false, checks: [{ name: 'status', fn }] } });
    await init(ref);
    const result = await runChunk(activityEnv().env, acts, { ...ref, runId: 'r1', partition: 0, maxMs: 60_000 });
    expect(result).toMatchObject({ done: true, rowsUpdated: 50, throttleReason: 'check "status" failed: status page unreachable' });
    expect(result.throttledMs).toBeGreaterThan(0);
  });

  it('ends the wait on a stop request, and when the chunk runs out of time', async () => {
    await makeTable(db.pool, 'stuck', 50);
    const ref = register(migrations, 'stuck', 'stuck', { health: { autovacuum: false, checks: [{ name: 'never', sql: 'SELECT false' }] } });
    await init(ref);
    const timed = await runChunk(activityEnv().env, acts, { ...ref, runId: 'r1', partition: 0, maxMs: 400 });
    expect(timed).toMatchObject({ stopped: 'time', batches: 0, done: false, throttleReason: 'check "never" returned false' });
    expect(timed.elapsedMs).toBeLessThan(1500);

    const running = runChunk(activityEnv().env, acts, { ...ref, runId: 'r1', partition: 0, maxMs: 60_000 });
    await delay(300);
    const t0 = Date.now();
    await acts.requestStop({ name: 'stuck', runId: 'r1' });
    expect(await running).toMatchObject({ stopped: 'stop-requested', batches: 0 });
    expect(Date.now() - t0).toBeLessThan(1000);
  });
});
