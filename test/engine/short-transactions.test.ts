/**
 * `backfill.maxLockMs`: a batch runs as short transactions, each committing its rows with its own
 * checkpoint. Against a real PostgreSQL: a batch of slow rows is cut into several transactions; a
 * connection killed in the middle of a batch loses only the transaction it was in, and the next
 * chunk (a fresh engine, as after a worker crash) repeats none of the committed rows.
 */
import pg from 'pg';
import type { ChunkResult } from '../../src/contract/activities';
import type { LoadedMigration } from '../../src/definition/registry';
import { fixedBatchSizer } from '../../src/engine/batch-size';
import { createBackfillEngine, type BackfillEngine } from '../../src/engine/engine';
import { quietPort } from '../../src/engine/port';
import { guardConnections } from '../../src/pg/pool';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { createTouchFunction, delay, makeTable, register, touchHistogram } from '../helpers/backfill';

let db: TestDatabase;
const migrations = new Map<string, LoadedMigration>();

/** An engine with fixed batches of `backfill.batchSize` (the transactions inside are sized by maxLockMs). */
const newEngine = (): BackfillEngine =>
  createBackfillEngine({ pool: db.pool }, { batchSizer: (m) => fixedBatchSizer(m.definition.backfill.batchSize) });

beforeAll(async () => {
  db = await createTestDatabase('engine_short_tx');
  guardConnections(db.pool); // as the worker does: a killed connection is discarded, not a crash
  await createTouchFunction(db.pool);
  // ~1 ms a row: a batch of 300 rows takes ~300 ms, far above maxLockMs.
  await db.pool.query(`CREATE FUNCTION slow_json(t text) RETURNS jsonb LANGUAGE plpgsql VOLATILE AS
    $$ BEGIN PERFORM pg_sleep(0.001); RETURN t::jsonb; END $$`);
});

afterAll(() => db?.drop());

async function prepare(name: string, rows: number, backfill: Parameters<typeof register>[3]) {
  await makeTable(db.pool, name, rows);
  const ref = register(migrations, name, name, { set: 'data = slow_json(raw)', health: { autovacuum: false }, ...backfill });
  const migration = migrations.get(name)!;
  await newEngine().initBackfill(migration, { ...ref, runId: 'r1', pass: 1 });
  return { migration, input: { ...ref, runId: 'r1', partition: 0, maxMs: 60_000 } };
}

async function checkpoint(name: string): Promise<{ batches: number; rows_scanned: number; done: boolean }> {
  const { rows } = await db.pool.query(
    `SELECT batches::int, rows_scanned::int, done FROM ferry.backfill_checkpoints WHERE migration = $1 AND run_id = 'r1'`,
    [name],
  );
  return rows[0];
}

/** Terminates the backend running the backfill's UPDATE on `table` once it has committed `commits` transactions. */
async function killMidBatch(name: string, table: string, commits: number): Promise<number> {
  for (let i = 0; i < 2000; i++) {
    if ((await checkpoint(name)).batches >= commits) {
      const { rows } = await db.pool.query(
        `SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity
          WHERE datname = current_database() AND state = 'active' AND query LIKE '%UPDATE%' AND query LIKE $1`,
        [`%${table}%`],
      );
      if (rows.length > 0) return rows.length;
    }
    await delay(5);
  }
  throw new Error('the backfill never reached the transaction to kill');
}

describe('short transactions (backfill.maxLockMs)', () => {
  it('runs a long batch as several transactions, each with its own checkpoint', async () => {
    // The first transaction has the batch's size (the sizer knows no cost yet: ~300 ms); then
    // transactions shrink towards 30 ms, so the other batches run as several each.
    const { migration, input } = await prepare('split', 900, { batchSize: 300, maxLockMs: 30 });
    const result: ChunkResult = await newEngine().runChunk(migration, input, quietPort());
    expect(result).toMatchObject({ done: true, rowsScanned: 900, rowsUpdated: 900 });
    expect(result.batches).toBeLessThanOrEqual(4); // three full batches, maybe an empty last one
    const cp = await checkpoint('split');
    expect(cp.batches).toBeGreaterThan(result.batches + 3); // transactions, each advancing the checkpoint
    expect(cp.rows_scanned).toBe(900);
    expect(await touchHistogram(db.pool, 'split')).toEqual({ '1': 900 });
  }, 60_000);

  it('a connection killed mid-batch loses only its transaction; the next chunk repeats nothing', async () => {
    const { migration, input } = await prepare('crash', 1000, { batchSize: 200, maxLockMs: 20 });
    const first = newEngine().runChunk(migration, input, quietPort());
    const failed = first.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(await killMidBatch('crash', 'crash', 3)).toBe(1);
    expect(await failed).toBeDefined(); // the chunk failed with the connection

    // What is committed is exactly what the checkpoint covers: rows and checkpoint went together.
    const atCrash = await checkpoint('crash');
    expect(atCrash.done).toBe(false);
    expect(atCrash.rows_scanned).toBeGreaterThan(0);
    expect(atCrash.rows_scanned).toBeLessThan(1000);
    expect(await touchHistogram(db.pool, 'crash')).toEqual({ '0': 1000 - atCrash.rows_scanned, '1': atCrash.rows_scanned });

    const rest = await newEngine().runChunk(migration, input, quietPort()); // another worker
    expect(rest).toMatchObject({ done: true, rowsScanned: 1000 - atCrash.rows_scanned });
    expect(await touchHistogram(db.pool, 'crash')).toEqual({ '1': 1000 });
  }, 60_000);

  it('commits its transactions with synchronous_commit off, or as the session says when told', async () => {
    const seen: string[] = [];
    const process = async (_rows: unknown[], ctx: { client: { query: (q: string) => Promise<{ rows: { s: string }[] }> } }) => {
      seen.push((await ctx.client.query(`SELECT current_setting('synchronous_commit') AS s`)).rows[0].s);
    };
    const { migration, input } = await prepare('sync', 50, { set: undefined, process, batchSize: 25 });
    await newEngine().runChunk(migration, input, quietPort());
    expect(new Set(seen)).toEqual(new Set(['off']));

    seen.length = 0;
    const on = await prepare('sync_on', 50, { set: undefined, process, batchSize: 25, synchronousCommit: true });
    await newEngine().runChunk(on.migration, on.input, quietPort());
    expect(new Set(seen)).toEqual(new Set(['on']));

    // The session's own setting is kept: a pool whose sessions say remote_write.
    seen.length = 0;
    const pool = new pg.Pool({ connectionString: db.url, options: '-c synchronous_commit=remote_write' });
    try {
      const kept = await prepare('sync_kept', 50, { set: undefined, process, batchSize: 25, synchronousCommit: true });
      await createBackfillEngine({ pool }).runChunk(kept.migration, kept.input, quietPort());
      expect(new Set(seen)).toEqual(new Set(['remote_write']));
    } finally {
      await pool.end();
    }
  }, 60_000);

  it('finishes a partition of synchronous_commit = off transactions with a synchronous commit', async () => {
    const { migration, input } = await prepare('sync_done', 30, { batchSize: 10 });
    const settingAfterAdvance = async (session: string, done: boolean): Promise<string> => {
      const client = await db.pool.connect();
      try {
        await client.query('BEGIN');
        await client.query(`SELECT set_config('synchronous_commit', $1, true)`, [session]);
        await client.query(`SELECT * FROM ferry.advance_checkpoint($1, $2, 0, NULL, 0, 0, 0, 10, $3, 1, 0, false)`, [
          input.name,
          input.runId,
          done,
        ]);
        return (await client.query(`SELECT current_setting('synchronous_commit') AS s`)).rows[0].s;
      } finally {
        await client.query('ROLLBACK');
        client.release();
      }
    };
    expect(await settingAfterAdvance('off', true)).toBe('on');
    expect(await settingAfterAdvance('off', false)).toBe('off');
    expect(await settingAfterAdvance('remote_write', true)).toBe('remote_write');
    expect(await newEngine().runChunk(migration, input, quietPort())).toMatchObject({ done: true, rowsScanned: 30 });
  }, 60_000);
});
