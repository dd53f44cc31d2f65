/**
 * Process mode's external calls against a real PostgreSQL: `backfill.rateLimit.perSecond` is the
 * migration's budget, shared by its worker processes through `ferry.rate_budgets`; and the
 * bisection of a failing batch does not call the API again for rows whose call succeeded
 * (`ctx.once`). Rate assertions are bounds a slow machine cannot break: it only spaces calls more.
 */
import pg from 'pg';
import type { ProcessContext, Row } from '../../src/definition/define';
import type { LoadedMigration } from '../../src/definition/registry';
import { fixedBatchSizer } from '../../src/engine/batch-size';
import { createBackfillEngine, type BackfillEngine } from '../../src/engine/engine';
import { quietPort } from '../../src/engine/port';
import { createPool } from '../../src/pg/pool';
import { reserveCalls } from '../../src/store/rate-budgets';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { createTouchFunction, makeTable, register, touchHistogram } from '../helpers/backfill';

let db: TestDatabase;
const migrations = new Map<string, LoadedMigration>();
const pools: pg.Pool[] = [];

beforeAll(async () => {
  db = await createTestDatabase('engine_rate_budget');
  await createTouchFunction(db.pool);
});

afterAll(async () => {
  await Promise.all(pools.map((p) => p.end()));
  await db?.drop();
});

/** A worker process as the engine sees it: a pool of its own, an engine of its own. */
function worker(): BackfillEngine {
  const pool = createPool(db.url, { max: 4 }); // as a worker's: a dropped idle connection is not a crash of this file
  pools.push(pool);
  return createBackfillEngine({ pool }, { batchSizer: (m) => fixedBatchSizer(m.definition.backfill.batchSize) });
}

/** Runs partition `partition` of `name` on `engine` to its end. */
async function drain(engine: BackfillEngine, name: string, partition: number): Promise<void> {
  const m = migrations.get(name)!;
  for (let done = false; !done;) {
    done = (await engine.runChunk(m, { name, specHash: m.specHash, runId: 'r1', partition, maxMs: 60_000 }, quietPort())).done;
  }
}

describe('process mode: the rate budget and its calls', () => {
  it('holds rateLimit.perSecond across two worker processes running one migration', async () => {
    const calls: number[] = [];
    const process = async (rows: Row[], ctx: ProcessContext) => {
      for (const row of rows) await ctx.once(row, async () => calls.push(Date.now()));
      await ctx.client.query('UPDATE shared SET data = raw::jsonb WHERE id = ANY($1::bigint[])', [rows.map((r) => r.id)]);
    };
    await makeTable(db.pool, 'shared', 40);
    const ref = register(migrations, 'shared', 'shared', {
      set: undefined,
      process,
      batchSize: 10,
      concurrency: 2,
      rateLimit: { perSecond: 20 },
    });
    const [a, b] = [worker(), worker()];
    expect((await a.initBackfill(migrations.get('shared')!, { ...ref, runId: 'r1', pass: 1 })).partitions).toBe(2);

    await Promise.all([drain(a, 'shared', 0), drain(b, 'shared', 1)]);

    expect(await touchHistogram(db.pool, 'shared')).toEqual({ '1': 40 });
    expect(calls).toHaveLength(40);
    // 40 calls at 20 a second for the migration: the last at least ~1.9 s after the first (each
    // worker alone at 20 a second would have needed ~0.95 s).
    expect(Math.max(...calls) - Math.min(...calls)).toBeGreaterThanOrEqual(1700);
  }, 60_000);

  it('reserves from one bucket per migration with the database clock', async () => {
    const pool = pools[0];
    expect(await reserveCalls(pool, 'bucket', { calls: 10, perSecond: 10, burst: 1 })).toBe(0); // a new bucket: at once
    const wait = await reserveCalls(pool, 'bucket', { calls: 1, perSecond: 10, burst: 1 });
    expect(wait).toBeGreaterThan(800); // behind the second of calls reserved before it
    expect(wait).toBeLessThanOrEqual(1000);
    expect(await reserveCalls(pool, 'another', { calls: 1, perSecond: 10, burst: 1 })).toBe(0);
  });

  it('bisecting a failing batch calls the API once per row that succeeded', async () => {
    const apiCalls = new Map<number, number>();
    const process = async (rows: Row[], ctx: ProcessContext) => {
      for (const row of rows) {
        await ctx.once(row, async () => {
          const id = Number(row.id);
          apiCalls.set(id, (apiCalls.get(id) ?? 0) + 1);
          if (row.raw === 'boom') throw new Error(`the API refuses row ${id}`);
        });
      }
      await ctx.client.query('UPDATE bisect SET data = raw::jsonb WHERE id = ANY($1::bigint[])', [rows.map((r) => r.id)]);
    };
    await makeTable(db.pool, 'bisect', 64);
    await db.pool.query(`UPDATE bisect SET raw = 'boom' WHERE id IN (13, 50)`);
    const ref = register(migrations, 'bisect', 'bisect', { set: undefined, process, batchSize: 32 });
    const engine = worker();
    await engine.initBackfill(migrations.get('bisect')!, { ...ref, runId: 'r1', pass: 1 });

    await drain(engine, 'bisect', 0);

    const good = [...apiCalls].filter(([id]) => id !== 13 && id !== 50);
    expect(good).toHaveLength(62);
    expect(good.every(([, n]) => n === 1)).toBe(true);
    expect(apiCalls.get(13)).toBeGreaterThan(1); // a failed call is not kept: each half retries it
    expect(await touchHistogram(db.pool, 'bisect', 'id NOT IN (13, 50)')).toEqual({ '1': 62 });
    expect((await db.pool.query(`SELECT count(*)::int AS n FROM ferry.failed_rows WHERE migration = 'bisect'`)).rows[0].n).toBe(2);
  }, 60_000);
});
