/**
 * `backfill.health.latency` in the engine against a real PostgreSQL: a budget that cannot be met
 * throttles (the reason says so, as `ferry status` shows it) and the backfill still completes, its
 * transactions made smaller (and synchronous) before it rests; a
 * canary that errors throttles too (fail closed); a budget that is met does not throttle.
 */
import { progressLines, progressOf } from '../../src/contract/progress';
import type { ChunkResult } from '../../src/contract/activities';
import type { LoadedMigration } from '../../src/definition/registry';
import { fixedBatchSizer } from '../../src/engine/batch-size';
import { createBackfillEngine, type BackfillEngine } from '../../src/engine/engine';
import { quietPort } from '../../src/engine/port';
import { createMetrics } from '../../src/metrics';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { recordQueries } from '../helpers/record-queries';
import { createTouchFunction, delay, makeTable, register, touchHistogram } from '../helpers/backfill';
import type { MigrationInput } from '../../src/contract/migration';
import { initialState } from '../../src/workflows/state';

let db: TestDatabase;
let engine: BackfillEngine;
const metrics = createMetrics();
const migrations = new Map<string, LoadedMigration>();

beforeAll(async () => {
  db = await createTestDatabase('engine_latency');
  await createTouchFunction(db.pool);
  engine = createBackfillEngine(
    { pool: db.pool, metrics },
    {
      batchSizer: (m) => fixedBatchSizer(m.definition.backfill.batchSize),
      latency: { everyMs: 10, window: 20, baselineSamples: 10, timeoutMs: 200, idleStopMs: 10, holdMs: 0, maxRestMs: 40, min: 0.25 },
    },
  );
});

afterAll(async () => {
  await delay(100); // the canaries' connections close after idleStopMs
  await db?.drop();
});

/** Backfills table `name` (1,500 rows, batches of 100) under `latency` to the end; every row once. */
async function backfill(
  name: string,
  latency: { query?: string; commit?: boolean; p99Ms?: number; ratio?: number },
  port = quietPort(),
): Promise<ChunkResult> {
  await makeTable(db.pool, name, 1500);
  // maxLockMs 1: no smaller transactions to make first, straight to the rests these tests are about.
  const ref = register(migrations, name, name, { batchSize: 100, maxLockMs: 1, health: { autovacuum: false, latency } });
  const migration = migrations.get(name)!;
  await engine.initBackfill(migration, { ...ref, runId: 'r1', pass: 1 });
  const result = await engine.runChunk(migration, { ...ref, runId: 'r1', partition: 0, maxMs: 120_000 }, port);
  expect(result).toMatchObject({ done: true, rowsScanned: 1500 });
  expect(await touchHistogram(db.pool, name)).toEqual({ '1': 1500 });
  return result;
}

/** What `ferry status` prints on the throttled line after `result`. */
function statusLine(result: ChunkResult): string | undefined {
  const state = initialState({ startedBy: 'test', specHash: 'v2-x' } as MigrationInput, new Date());
  Object.assign(state.backfill, { throttledMs: result.throttledMs, throttleReason: result.throttleReason });
  const line = progressLines(progressOf({ name: 'm', table: 't' }, state)).find((l) => l.label === 'throttled');
  return line && `${line.label}: ${line.text}`;
}

describe('latency budget', () => {
  it('throttles under a budget it cannot meet, says so, and still completes', async () => {
    const result = await backfill('unmet', { query: 'SELECT 1', p99Ms: 0.0001 });
    expect(result.throttledMs).toBeGreaterThan(0);
    expect(result.throttleReason).toMatch(/^latency p99 [\d.]+ ms > budget 0 ms$/);
    expect(statusLine(result)).toMatch(/^throttled: latency p99 [\d.]+ ms > budget 0 ms \(the last reason; .* in all\)$/);
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/ferry_throttled_seconds_total\{migration="unmet",reason_kind="latency"\} [\d.]+/);
    expect(text).toMatch(/ferry_backfill_duty_cycle\{migration="unmet"\} 0\.25/);
    expect(text).toMatch(/ferry_backfill_transaction_lock_seconds\{migration="unmet"\} 0\.001\n/); // maxLockMs 1: no first stage to go down
  }, 60_000);

  it('throttles on the commit probe alone, says it is the commit, and logs it once', async () => {
    const logged: string[] = [];
    const result = await backfill('unmet_commit', { commit: true, p99Ms: 0.0001 }, { ...quietPort(), log: (m) => logged.push(m) });
    expect(result.throttledMs).toBeGreaterThan(0);
    expect(result.throttleReason).toMatch(/^commit latency p99 [\d.]+ ms > budget 0 ms$/);
    expect(logged.filter((m) => m === 'backfill slows down for the latency budget')).toHaveLength(1); // 15 batches, over throughout
  }, 60_000);

  it('over budget, makes its transactions smaller and commits them synchronously before it rests', async () => {
    await makeTable(db.pool, 'lever', 12_000);
    const ref = register(migrations, 'lever', 'lever', {
      batchSize: 1000,
      maxLockMs: 25,
      health: { autovacuum: false, latency: { query: 'SELECT 1', p99Ms: 0.0001 } },
    });
    const migration = migrations.get('lever')!;
    // Judges after every 2 fresh samples (5 ms apart), so that the loop steps down within the table;
    // its floor at 1 ms and the duty's at 0.9, so that what the duty alone makes (900-row batches) and
    // what the first lever makes (transactions of ~1 ms, a few hundred rows at most) differ.
    const options = {
      ...{ everyMs: 5, window: 20, baselineSamples: 10, freshSamples: 2, timeoutMs: 200, idleStopMs: 10, holdMs: 0, min: 0.9 },
      lockMs: { maxLockMs: 25, minLockMs: 1 },
    };
    const lever = createBackfillEngine(
      { pool: db.pool, metrics },
      { batchSizer: (m) => fixedBatchSizer(m.definition.backfill.batchSize), latency: options },
    );
    await lever.initBackfill(migration, { ...ref, runId: 'r1', pass: 1 });
    const { result, sent } = await recordQueries(() =>
      lever.runChunk(migration, { ...ref, runId: 'r1', partition: 0, maxMs: 120_000 }, quietPort()),
    );
    expect(result).toMatchObject({ done: true, rowsScanned: 12_000 });
    expect(result.throttledMs).toBeGreaterThan(0); // it did come to rest, once transactions were small
    expect(await touchHistogram(db.pool, 'lever')).toEqual({ '1': 12_000 });

    const transactions = sent.map((q) => q.text).filter((t) => t.startsWith('BEGIN;') && t.includes('WITH ferry_checkpoint'));
    const rows = transactions.map((t) => Number(/ORDER BY "id" LIMIT (\d+)\)/.exec(t)?.[1]));
    const synchronous = transactions.map((t) => !t.includes(`set_config('synchronous_commit', 'off', true)`));
    expect(rows[0]).toBe(1000);
    expect(synchronous[0]).toBe(false); // full speed: synchronous_commit = off, as by default
    // Over budget throughout, they fall to about a millisecond each and stay there: the second half
    // are all small (the duty alone would make 900-row batches).
    expect(rows.slice(Math.floor(rows.length / 2)).every((n) => n <= 100)).toBe(true);
    expect(synchronous.slice(1).every(Boolean)).toBe(true); // held back: each commits synchronously
    expect(await metrics.registry.metrics()).toMatch(/ferry_backfill_transaction_lock_seconds\{migration="lever"\} 0\.001\n/); // down to the floor
  }, 60_000);

  it('fails closed: a canary that errors throttles', async () => {
    const result = await backfill('erring', { query: 'SELECT 1/0', p99Ms: 1000 });
    expect(result.throttledMs).toBeGreaterThan(0);
    expect(result.throttleReason).toMatch(/^latency canary failed: division by zero/);
  }, 60_000);

  it('slows down while the application is slow and returns to full speed once it is not', async () => {
    // The "application" is slow (its read sleeps 40 ms, over a 20 ms budget) until the backfill
    // has slowed down, then fast again: the duty cycle must come back to 1 before the end.
    await db.pool.query('CREATE TABLE app_knob (slow boolean NOT NULL); INSERT INTO app_knob VALUES (true)');
    const query = 'SELECT pg_sleep(CASE WHEN slow THEN 0.04 ELSE 0 END) FROM app_knob';
    await makeTable(db.pool, 'recovers', 4000);
    const ref = register(migrations, 'recovers', 'recovers', {
      batchSize: 50,
      maxLockMs: 1,
      health: { autovacuum: false, latency: { query, p99Ms: 20 } },
    });
    const migration = migrations.get('recovers')!;
    await engine.initBackfill(migration, { ...ref, runId: 'r1', pass: 1 });
    const duty = async () =>
      Number(/ferry_backfill_duty_cycle\{migration="recovers"\} ([\d.]+)/.exec(await metrics.registry.metrics())?.[1] ?? 1);
    const run = engine.runChunk(migration, { ...ref, runId: 'r1', partition: 0, maxMs: 120_000 }, quietPort());
    while ((await duty()) >= 1) await delay(5);
    await db.pool.query('UPDATE app_knob SET slow = false');
    const result = await run;
    expect(result).toMatchObject({ done: true, rowsScanned: 4000 });
    expect(result.throttledMs).toBeGreaterThan(0);
    expect(await duty()).toBe(1); // back to full speed
    expect(await touchHistogram(db.pool, 'recovers')).toEqual({ '1': 4000 });
  }, 120_000);

  it('does not throttle under a budget that is met', async () => {
    const result = await backfill('met', { query: 'SELECT 1', p99Ms: 10_000 });
    expect(result.throttledMs).toBe(0);
    expect(result.throttleReason).toBeUndefined();
    expect(statusLine(result)).toBeUndefined();
  }, 60_000);
});
