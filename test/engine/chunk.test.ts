/**
 * The backfill engine driven through a hand-made port against a real PostgreSQL: no Temporal, no
 * MockActivityEnvironment. The port records heartbeats, sleeps and logs; cancellation is an
 * AbortController of the test's own.
 */
import type { ChunkHeartbeat, ChunkResult } from '../../src/contract/activities';
import { FerryError } from '../../src/contract/errors';
import type { LoadedMigration } from '../../src/definition/registry';
import { fixedBatchSizer } from '../../src/engine/batch-size';
import { createBackfillEngine, type BackfillEngine } from '../../src/engine/engine';
import type { EnginePort } from '../../src/engine/port';
import { abortableDelay } from '../../src/engine/rate-limiter';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { createTouchFunction, makeTable, register, touchHistogram } from '../helpers/backfill';

let db: TestDatabase;
let engine: BackfillEngine;
const migrations = new Map<string, LoadedMigration>();

beforeAll(async () => {
  db = await createTestDatabase('engine_chunk');
  await createTouchFunction(db.pool);
  engine = createBackfillEngine({ pool: db.pool }, { batchSizer: (m) => fixedBatchSizer(m.definition.backfill.batchSize) });
});

afterAll(() => db?.drop());

/** A port that records what the engine does through it; `abort()` cancels the chunk. */
function testPort(heartbeatTimeoutMs?: number) {
  const controller = new AbortController();
  const beats: ChunkHeartbeat[] = [];
  const sleeps: number[] = [];
  const logs: string[] = [];
  const port: EnginePort = {
    heartbeat: (d) => beats.push(d),
    sleep: (ms) => {
      sleeps.push(ms);
      return abortableDelay(ms, controller.signal);
    },
    signal: controller.signal,
    heartbeatTimeoutMs,
    log: (message) => logs.push(message),
  };
  const abort = () => controller.abort(new Error('chunk cancelled by the test'));
  return { port, beats, sleeps, logs, abort };
}

/** The migration `name` on table `name` (default change: data = raw::jsonb where data IS NULL), its run initialised. */
async function prepare(name: string, rows: number, backfill: Parameters<typeof register>[3]) {
  await makeTable(db.pool, name, rows);
  const ref = register(migrations, name, name, backfill);
  const migration = migrations.get(name)!;
  await engine.initBackfill(migration, { ...ref, runId: 'r1', pass: 1 });
  const input = { ...ref, runId: 'r1', partition: 0, maxMs: 60_000 };
  return { migration, input };
}

async function checkpoint(name: string) {
  const { rows } = await db.pool.query(
    `SELECT last_key, batches::int, rows_updated::int, done FROM ferry.backfill_checkpoints WHERE migration = $1 AND run_id = 'r1' AND partition = 0`,
    [name],
  );
  return rows[0];
}

it('runs a chunk to the end, heartbeating after every batch and pausing between batches through the port', async () => {
  // One transaction a batch (maxLockMs above any batch), so the checkpoint counts batches.
  const { migration, input } = await prepare('plain', 250, { batchSize: 50, pause: '5ms', maxLockMs: 60_000 });
  const { port, beats, sleeps } = testPort();

  const result: ChunkResult = await engine.runChunk(migration, input, port);

  expect(result).toMatchObject({
    done: true,
    stopped: 'done',
    rowsScanned: 250,
    rowsUpdated: 250,
    rowsFailed: 0,
    batches: 6,
    batchSize: 50,
  });
  expect(beats.map((b) => b.batches)).toEqual([1, 2, 3, 4, 5, 6]); // 5 full batches, then the empty one that ends the range
  expect(beats[5]).toEqual({
    partition: 0,
    rowsScanned: 250,
    rowsUpdated: 250,
    rowsFailed: 0,
    batches: 6,
    batchSize: 50,
    throttledMs: 0,
    contendedMs: 0,
    contendedBatches: 0,
  });
  expect(sleeps).toEqual([5, 5, 5, 5, 5]); // after each full batch, none after the last
  expect(await touchHistogram(db.pool, 'plain')).toEqual({ '1': 250 });
  expect(await checkpoint('plain')).toEqual({ last_key: ['250'], batches: 6, rows_updated: 250, done: true });
  expect(await engine.status({ name: 'plain', runId: 'r1' })).toEqual({ rowsScanned: 250, rowsUpdated: 250, rowsFailed: 0, done: true });
});

it("stops within one batch when the port's signal aborts mid-batch, leaving the checkpoint at that batch", async () => {
  let batches = 0;
  const run = testPort();
  const { migration, input } = await prepare('cancel', 100, {
    set: undefined,
    batchSize: 10,
    process: async (rows, ctx) => {
      if (++batches === 3) run.abort(); // cancelled during the third batch, which still commits
      await ctx.client.query(`UPDATE cancel SET data = '{}' WHERE id = ANY($1::bigint[])`, [rows.map((r) => r.id)]);
    },
  });

  await expect(engine.runChunk(migration, input, run.port)).rejects.toThrow('chunk cancelled by the test');

  expect(batches).toBe(3);
  expect(await checkpoint('cancel')).toEqual({ last_key: ['30'], batches: 3, rows_updated: 30, done: false });
  expect(await touchHistogram(db.pool, 'cancel')).toEqual({ '0': 70, '1': 30 });

  const rest = await engine.runChunk(migration, input, testPort().port); // the next attempt goes on from the checkpoint
  expect(rest).toMatchObject({ done: true, rowsUpdated: 70 });
  expect(await touchHistogram(db.pool, 'cancel')).toEqual({ '1': 100 });
});

it("stops during the pause when the port's signal aborts, without starting another batch", async () => {
  const { migration, input } = await prepare('pausecancel', 100, { batchSize: 10, pause: '30s' });
  const run = testPort();
  const chunk = engine.runChunk(migration, input, run.port);
  const t0 = Date.now();
  setTimeout(run.abort, 300);

  await expect(chunk).rejects.toThrow('chunk cancelled by the test');

  expect(Date.now() - t0).toBeLessThan(5000);
  expect(run.sleeps).toEqual([30_000]);
  expect(await checkpoint('pausecancel')).toEqual({ last_key: ['10'], batches: 1, rows_updated: 10, done: false });
});

it("heartbeats during a long batch at a third of the port's heartbeat timeout", async () => {
  const { migration, input } = await prepare('slowbatch', 10, {
    set: undefined,
    batchSize: 10,
    process: async (rows, ctx) => {
      await new Promise((r) => setTimeout(r, 1500));
      await ctx.client.query(`UPDATE slowbatch SET data = '{}' WHERE id = ANY($1::bigint[])`, [rows.map((r) => r.id)]);
    },
  });
  const { port, beats } = testPort(3000); // a beat every second while a batch runs

  await engine.runChunk(migration, input, port);

  expect(beats.filter((b) => b.batches === 0).length).toBeGreaterThanOrEqual(1);
});

it('fails with a FerryError, not a Temporal failure, for a partition without a checkpoint', async () => {
  const { migration, input } = await prepare('nocheckpoint', 10, {});
  const err = await engine.runChunk(migration, { ...input, partition: 7 }, testPort().port).catch((e: unknown) => e);

  expect(err).toBeInstanceOf(FerryError);
  expect(err).toMatchObject({ code: 'NOT_FOUND', retryable: false });
  expect((err as Error).message).toMatch(/partition 7 of migration "nocheckpoint" \(run "r1"\) has no checkpoint/);
});
