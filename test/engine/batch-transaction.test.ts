/**
 * The batch transaction's opening: BEGIN, the partition's lock and the checkpoint's read go to
 * PostgreSQL in one round trip (`openBatchStatements`), and the read still takes its snapshot after
 * the lock. Against a real PostgreSQL: a chunk whose transaction waited for the lock while another
 * attempt advanced the checkpoint is superseded and applies nothing, and so is one whose checkpoint
 * moved while it ran (the advance, sent with the COMMIT, raises and rolls it back); a set-mode
 * transaction takes one round trip (three in process mode).
 */
import pg from 'pg';
import type { LoadedMigration } from '../../src/definition/registry';
import { fixedBatchSizer } from '../../src/engine/batch-size';
import { createBackfillEngine, type BackfillEngine } from '../../src/engine/engine';
import { quietPort } from '../../src/engine/port';
import { CommitWith, transactionInOneTrip, withTransaction } from '../../src/pg/transaction';
import { buildCheckpointedSetBatch } from '../../src/sql/checkpointed-batch';
import {
  advancedCheckpoint,
  advanceStatement,
  CHECKPOINT_MOVED,
  insertPartition,
  LOCK_PARTITION,
  lockAndSettingsStatements,
  requestStop,
  openBatchStatements,
  openedCheckpoint,
} from '../../src/store/checkpoints';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { recordQueries } from '../helpers/record-queries';
import { SET_STATEMENT_ROWS } from '../../src/engine/set-mode';
import { createTouchFunction, delay, makeTable, register, touchHistogram } from '../helpers/backfill';

let db: TestDatabase;
const migrations = new Map<string, LoadedMigration>();

/** An engine with fixed batches of `backfill.batchSize`. */
const newEngine = (): BackfillEngine =>
  createBackfillEngine({ pool: db.pool }, { batchSizer: (m) => fixedBatchSizer(m.definition.backfill.batchSize) });

beforeAll(async () => {
  db = await createTestDatabase('engine_batch_tx');
  await createTouchFunction(db.pool);
});

afterAll(() => db?.drop());

type Backfill = Parameters<typeof register>[3];

/** A table of `rows` rows and its migration (one transaction a batch of `batchSize`), initialised. */
async function prepare(name: string, rows: number, batchSize: number, backfill: Backfill = {}) {
  await makeTable(db.pool, name, rows);
  const ref = register(migrations, name, name, { batchSize, maxLockMs: 60_000, health: { autovacuum: false }, ...backfill });
  const migration = migrations.get(name)!;
  await newEngine().initBackfill(migration, { ...ref, runId: 'r1', pass: 1 });
  return { migration, input: { ...ref, runId: 'r1', partition: 0, maxMs: 60_000 } };
}

/** Waits until a backend of this database waits for an advisory lock. */
async function someoneWaitsForAdvisoryLock(): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    const { rows } = await db.pool.query(
      `SELECT count(*)::int AS n FROM pg_locks
        WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
    );
    if (rows[0].n > 0) return;
    await delay(5);
  }
  throw new Error('no transaction ever waited for the partition lock');
}

/** The round trips of each transaction in `sent`: from its BEGIN to its COMMIT or ROLLBACK, on its client. */
function roundTripsPerTransaction(sent: { client: pg.Client; text: string }[]): { texts: string[] }[] {
  const open = new Map<pg.Client, string[]>();
  const done: { texts: string[] }[] = [];
  for (const { client, text } of sent) {
    if (/^BEGIN\b/.test(text)) open.set(client, []);
    const texts = open.get(client);
    if (texts === undefined) continue;
    texts.push(text);
    if (/(^|;\s)(COMMIT|ROLLBACK)$/.test(text)) {
      done.push({ texts });
      open.delete(client);
    }
  }
  return done;
}

describe('the batch transaction', () => {
  it('opens with its values inlined as literals, quotes and backslashes included', async () => {
    const ref = { name: "o'dd\\name; DROP TABLE x --", runId: "r'\\1", partition: 2 };
    await withTransaction(db.pool, (c) => insertPartition(c, ref, 1, { lower: null, upper: null }));
    const settings = { lockTimeout: '1234ms', statementTimeout: '5678ms', synchronousCommit: 'off' as const };
    const seen = await withTransaction(
      db.pool,
      async (c, opened) => ({
        checkpoint: openedCheckpoint(opened),
        timeouts: (await c.query(`SELECT current_setting('lock_timeout') AS l, current_setting('statement_timeout') AS s`)).rows[0],
        locks: (await c.query(`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()`)).rows[0].n,
      }),
      { first: openBatchStatements(ref, settings) },
    );
    expect(seen).toMatchObject({
      checkpoint: { pass: 1, last_key: null, batches: '0', done: false, stop_requested: false },
      timeouts: { l: '1234ms', s: '5678ms' },
      locks: 1,
    });
    expect(() => openBatchStatements({ ...ref, partition: 1.5 }, settings)).toThrow(/not an integer/);
    expect(() => openBatchStatements({ ...ref, name: 'a\0b' }, settings)).toThrow(/NUL/);
  });

  it('is superseded when it waited for the partition lock while another attempt advanced the checkpoint', async () => {
    // Process mode: `process` may act outside the transaction, so the batch must not even start.
    // (A checkpoint read with a snapshot from before the lock would let it run; the advance's guard
    // would then roll the rows back, but not what `process` did.)
    const processed: unknown[] = [];
    const { migration, input } = await prepare('waited', 100, 50, {
      set: undefined,
      process: async (rows, ctx) => {
        processed.push(...rows);
        await ctx.client.query(`UPDATE waited SET data = '{}' WHERE id = ANY($1::bigint[])`, [rows.map((r) => r.id)]);
      },
    });
    const other = await db.pool.connect(); // another attempt, in the middle of its batch
    try {
      await other.query('BEGIN');
      await other.query(LOCK_PARTITION, [input.name, input.runId, input.partition]);
      const running = newEngine().runChunk(migration, input, quietPort()); // reads its cursor, then waits for the lock
      await someoneWaitsForAdvisoryLock();
      await other.query(
        `UPDATE ferry.backfill_checkpoints SET batches = batches + 1, last_key = ARRAY['50'], rows_scanned = 50
          WHERE migration = $1 AND run_id = $2 AND partition = $3`,
        [input.name, input.runId, input.partition],
      );
      await other.query('COMMIT');

      expect(await running).toMatchObject({ stopped: 'superseded', batches: 0, rowsUpdated: 0, done: false });
      expect(processed).toEqual([]);
      expect(await touchHistogram(db.pool, 'waited')).toEqual({ '0': 100 });
    } finally {
      other.release();
    }
  }, 60_000);

  it('advances the checkpoint with the COMMIT, its values inlined, and rolls back when the checkpoint moved', async () => {
    const ref = { name: "adv'\\name", runId: "r'1", partition: 0 };
    await withTransaction(db.pool, (c) => insertPartition(c, ref, 1, { lower: null, upper: null }));
    const record = { lastKey: ["k'1", 'b\\2'], scanned: 10, updated: 9, failed: 1, size: 10, done: false, countBlocked: true };
    const advanced = await withTransaction(
      db.pool,
      async () => new CommitWith(advanceStatement(ref, record, { pass: 1, batches: '0' }), (r) => advancedCheckpoint(r[0])),
    );
    expect(advanced).toEqual({ stopRequested: false, blocked: 0 });
    const row = async () =>
      (
        await db.pool.query(
          `SELECT last_key, rows_scanned::int AS s, rows_failed::int AS f, batches::int AS b FROM ferry.backfill_checkpoints WHERE migration = $1`,
          [ref.name],
        )
      ).rows[0];
    expect(await row()).toEqual({ last_key: ["k'1", 'b\\2'], s: 10, f: 1, b: 1 });

    // The guard: at batch count 0 again, the checkpoint has moved (it is at 1). Nothing commits.
    const stale = withTransaction(db.pool, async (c) => {
      await c.query(`UPDATE ferry.backfill_checkpoints SET rows_updated = 1000 WHERE migration = $1`, [ref.name]);
      return new CommitWith(advanceStatement(ref, record, { pass: 1, batches: '0' }), (r) => advancedCheckpoint(r[0]));
    });
    await expect(stale).rejects.toMatchObject({ code: CHECKPOINT_MOVED });
    expect(await row()).toEqual({ last_key: ["k'1", 'b\\2'], s: 10, f: 1, b: 1 });
    expect(
      (await db.pool.query(`SELECT rows_updated::int AS u FROM ferry.backfill_checkpoints WHERE migration = $1`, [ref.name])).rows[0].u,
    ).toBe(9);
    expect(() => advanceStatement(ref, record, { pass: 1, batches: '1; DROP TABLE x' })).toThrow(/not a number/);
  });

  it('is superseded, its rows rolled back, when a new pass moved the checkpoint while the transaction ran', async () => {
    const { migration, input } = await prepare('moved', 100, 50, {
      set: undefined,
      process: async (rows, ctx) => {
        // Another session starts a new pass meanwhile (RESET_PASS does not take the partition lock).
        await db.pool.query(`UPDATE ferry.backfill_checkpoints SET pass = pass + 1 WHERE migration = $1`, [input.name]);
        await ctx.client.query(`UPDATE moved SET data = '{}' WHERE id = ANY($1::bigint[])`, [rows.map((r) => r.id)]);
      },
    });
    expect(await newEngine().runChunk(migration, input, quietPort())).toMatchObject({ stopped: 'superseded', batches: 0, rowsUpdated: 0 });
    expect(await touchHistogram(db.pool, 'moved')).toEqual({ '0': 100 });
    const { rows } = await db.pool.query(`SELECT batches::int AS b, pass FROM ferry.backfill_checkpoints WHERE migration = $1`, [
      input.name,
    ]);
    expect(rows[0]).toEqual({ b: 0, pass: 2 });
  }, 60_000);

  it('goes in one round trip in set mode: BEGIN, the lock, the settings, the batch with its checkpoint, COMMIT', async () => {
    const { migration, input } = await prepare('trips', 300, 100);
    const { result, sent } = await recordQueries(() => newEngine().runChunk(migration, input, quietPort()));
    expect(result).toMatchObject({ done: true, rowsUpdated: 300 });

    const transactions = roundTripsPerTransaction(sent).filter((t) => t.texts[0].includes('pg_advisory_xact_lock'));
    expect(transactions.length).toBeGreaterThanOrEqual(4); // three full batches and the short last one
    for (const { texts } of transactions) {
      expect(texts).toHaveLength(1);
      expect(texts[0]).toMatch(
        /^BEGIN;\nSELECT pg_advisory_xact_lock\(.*;\nSELECT set_config\('lock_timeout'.*;\nWITH ferry_checkpoint AS MATERIALIZED .*(;\nSELECT count\(\*\)::int AS blocked .*)?;\nCOMMIT$/s,
      );
    }
    expect(transactions.filter((t) => t.texts[0].includes('AS blocked'))).toHaveLength(transactions.length); // one transaction a batch: each is its batch's last
    expect(await touchHistogram(db.pool, 'trips')).toEqual({ '1': 300 });
  }, 60_000);

  it('takes three round trips in process mode, and when a transaction is larger than one statement takes', async () => {
    const { migration, input } = await prepare('trips_process', 120, 60, { set: undefined, process: async () => undefined });
    const { sent } = await recordQueries(() => newEngine().runChunk(migration, input, quietPort()));
    const transactions = roundTripsPerTransaction(sent).filter((t) => t.texts[0].includes('pg_advisory_xact_lock'));
    expect(transactions.length).toBeGreaterThanOrEqual(2);
    for (const { texts } of transactions) {
      expect(texts[0]).toMatch(/^BEGIN; SELECT pg_advisory_xact_lock\(.*;\nSELECT pass, last_key/s);
      expect(texts[texts.length - 1]).toMatch(/^SELECT stop_requested, blocked FROM ferry\.advance_checkpoint\(.*\); COMMIT$/s);
    }

    const big = await prepare('trips_big', SET_STATEMENT_ROWS + 10, SET_STATEMENT_ROWS + 10);
    const bigRun = await recordQueries(() => newEngine().runChunk(big.migration, big.input, quietPort()));
    expect(bigRun.result).toMatchObject({ done: true, rowsUpdated: SET_STATEMENT_ROWS + 10 });
    const first = roundTripsPerTransaction(bigRun.sent).filter((t) => t.texts[0].includes('pg_advisory_xact_lock'))[0];
    expect(first.texts.map((t) => t.slice(0, 16))).toEqual([
      'BEGIN; SELECT pg',
      'WITH ferry_batch',
      'WITH ferry_batch',
      'SELECT stop_requ',
    ]);
  }, 60_000);
});

describe('the set-mode batch in one round trip', () => {
  /** Runs `during` while the chunk's transaction waits for a lock (`waits`), with `other` in a transaction. */
  async function whileWaiting(run: () => Promise<unknown>, waits: () => Promise<void>, other: pg.PoolClient, during: string[]) {
    const running = run();
    await waits();
    for (const sql of during) await other.query(sql);
    return running;
  }

  it('is superseded and applies nothing when it waited for the partition lock while another attempt advanced the checkpoint', async () => {
    const { migration, input } = await prepare('set_waited', 100, 50);
    const other = await db.pool.connect(); // another attempt, in the middle of its batch
    try {
      await other.query('BEGIN');
      await other.query(LOCK_PARTITION, [input.name, input.runId, input.partition]);
      const result = await whileWaiting(() => newEngine().runChunk(migration, input, quietPort()), someoneWaitsForAdvisoryLock, other, [
        `UPDATE ferry.backfill_checkpoints SET batches = batches + 1, last_key = ARRAY['50'], rows_scanned = 50 WHERE migration = 'set_waited'`,
        'COMMIT',
      ]);
      expect(result).toMatchObject({ stopped: 'superseded', batches: 0, rowsUpdated: 0, done: false });
      expect(await touchHistogram(db.pool, 'set_waited')).toEqual({ '0': 100 });
      expect(await checkpoint('set_waited')).toMatchObject({ batches: 1, rows_scanned: 50 });
    } finally {
      other.release();
    }
  }, 60_000);

  it('runs only when the checkpoint is where the chunk left it, not done and not stopped; says what it found', async () => {
    await makeTable(db.pool, 'guarded', 100);
    const table = {
      schema: 'public',
      name: 'guarded',
      quoted: '"public"."guarded"',
      key: [{ name: 'id', type: 'bigint' }],
      estimatedRows: 100,
    };
    const ref = { name: 'guarded', runId: 'r1', partition: 0 };
    await withTransaction(db.pool, (c) => insertPartition(c, ref, 1, { lower: null, upper: null }));
    const settings = { lockTimeout: '2000ms', statementTimeout: '5000ms', synchronousCommit: 'off' as const };
    const run = async (guard: { pass: number; batches: string; lastKey: string[] | null }, size: number, partition = ref) => {
      const range = { shape: { lower: guard.lastKey === null ? 0 : 1, upper: 0 }, values: guard.lastKey ?? [] };
      const batch = buildCheckpointedSetBatch(
        table,
        { where: 'data IS NULL', set: 'data = raw::jsonb' },
        { partition, guard, range, size, syncWhenDone: true },
      );
      const results = await transactionInOneTrip(db.pool, [
        ...lockAndSettingsStatements(partition, settings),
        batch,
        `SELECT current_setting('synchronous_commit') AS sync`,
      ]);
      return { ...results[2].rows[0], sync: results[3].rows[0].sync };
    };
    const set = (sql: string) => db.pool.query(`UPDATE ferry.backfill_checkpoints SET ${sql} WHERE migration = 'guarded'`);

    // Where the chunk left it: runs, advances, commits asynchronously (not done).
    expect(await run({ pass: 1, batches: '0', lastKey: null }, 40)).toMatchObject({
      scanned: 40,
      updated: 40,
      last_key: ['40'],
      advanced: true,
      stop_requested: false,
      sync: 'off',
    });
    expect(await checkpoint('guarded')).toMatchObject({ batches: 1, rows_scanned: 40, last_key: ['40'], done: false });
    // Another attempt's batch count, last key or pass: does not run, and says where the checkpoint is.
    for (const guard of [
      { pass: 1, batches: '0', lastKey: null },
      { pass: 1, batches: '1', lastKey: ['39'] },
      { pass: 2, batches: '1', lastKey: ['40'] },
    ]) {
      expect(await run(guard, 40)).toMatchObject({
        scanned: 0,
        updated: 0,
        advanced: false,
        checkpoint_pass: 1,
        checkpoint_batches: '1',
        checkpoint_last_key: ['40'],
        sync: 'off',
      });
    }
    // A stop requested, then a done checkpoint: does not run, and says which.
    await set('stop_requested = true');
    expect(await run({ pass: 1, batches: '1', lastKey: ['40'] }, 40)).toMatchObject({
      advanced: false,
      checkpoint_stop_requested: true,
      checkpoint_done: false,
    });
    await set('stop_requested = false, done = true');
    expect(await run({ pass: 1, batches: '1', lastKey: ['40'] }, 40)).toMatchObject({
      advanced: false,
      checkpoint_stop_requested: false,
      checkpoint_done: true,
    });
    // No checkpoint at all.
    expect(await run({ pass: 1, batches: '1', lastKey: ['40'] }, 40, { ...ref, partition: 7 })).toMatchObject({
      advanced: false,
      checkpoint_pass: null,
    });
    expect(await touchHistogram(db.pool, 'guarded')).toEqual({ '0': 60, '1': 40 });
    // The batch that finishes the partition commits synchronously.
    await set('done = false');
    expect(await run({ pass: 1, batches: '1', lastKey: ['40'] }, 100)).toMatchObject({ scanned: 60, advanced: true, sync: 'on' });
    expect(await checkpoint('guarded')).toMatchObject({ batches: 2, rows_scanned: 100, last_key: ['100'], done: true });
    expect(await touchHistogram(db.pool, 'guarded')).toEqual({ '1': 100 });
  });

  /** A set-mode migration whose batch statements each sleep `seconds` once, as they change their rows. */
  const sleepy = (seconds: number) => ({ set: `data = raw::jsonb || (SELECT '{}'::jsonb FROM pg_sleep(${seconds}))` });

  it('rolls its rows back (ZF001) when a new pass moved the checkpoint after its snapshot, and is superseded', async () => {
    const { migration, input } = await prepare('set_moved', 100, 50, sleepy(0.5));
    const running = newEngine().runChunk(migration, input, quietPort());
    await someoneSleeps(); // the statement has its snapshot and is changing its rows
    // A new pass starts meanwhile (RESET_PASS does not take the partition lock).
    await db.pool.query(`UPDATE ferry.backfill_checkpoints SET pass = pass + 1 WHERE migration = 'set_moved'`);
    expect(await running).toMatchObject({ stopped: 'superseded', batches: 0, rowsUpdated: 0 });
    expect(await touchHistogram(db.pool, 'set_moved')).toEqual({ '0': 100 });
    expect(await checkpoint('set_moved')).toMatchObject({ batches: 0, pass: 2, rows_scanned: 0 });
  }, 60_000);

  it('commits its batch and stops when a stop was requested while it ran', async () => {
    const { migration, input } = await prepare('set_stop', 100, 50, sleepy(0.5));
    const running = newEngine().runChunk(migration, input, quietPort());
    await someoneSleeps();
    await requestStop(db.pool, { name: 'set_stop', runId: input.runId });
    expect(await running).toMatchObject({ stopped: 'stop-requested', batches: 1, rowsUpdated: 50 });
    expect(await touchHistogram(db.pool, 'set_stop')).toEqual({ '0': 50, '1': 50 });
    expect(await checkpoint('set_stop')).toMatchObject({ batches: 1, last_key: ['50'], stop_requested: true, done: false });
  }, 60_000);
});

/** The partition's checkpoint row of `migration`. */
async function checkpoint(migration: string) {
  const { rows } = await db.pool.query(
    `SELECT pass, batches::int AS batches, rows_scanned::int AS rows_scanned, last_key, stop_requested, done
       FROM ferry.backfill_checkpoints WHERE migration = $1`,
    [migration],
  );
  return rows[0];
}

/** Waits until a backend of this database is in `pg_sleep`. */
async function someoneSleeps(): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    const { rows } = await db.pool.query(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event = 'PgSleep'`,
    );
    if (rows[0].n > 0) return;
    await delay(5);
  }
  throw new Error('no statement ever slept');
}
