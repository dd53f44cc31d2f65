/**
 * The batch transaction's opening: BEGIN, the partition's lock and the checkpoint's read go to
 * PostgreSQL in one round trip (`openBatchStatements`), and the read still takes its snapshot after
 * the lock. Against a real PostgreSQL: a chunk whose transaction waited for the lock while another
 * attempt advanced the checkpoint is superseded and applies nothing, and so is one whose checkpoint
 * moved while it ran (the advance, sent with the COMMIT, raises and rolls it back); a set-mode
 * transaction takes three round trips.
 */
import pg from 'pg';
import type { LoadedMigration } from '../../src/definition/registry';
import { fixedBatchSizer } from '../../src/engine/batch-size';
import { createBackfillEngine, type BackfillEngine } from '../../src/engine/engine';
import { quietPort } from '../../src/engine/port';
import { CommitWith, withTransaction } from '../../src/pg/transaction';
import {
  advancedCheckpoint,
  advanceStatement,
  CHECKPOINT_MOVED,
  insertPartition,
  LOCK_PARTITION,
  openBatchStatements,
  openedCheckpoint,
} from '../../src/store/checkpoints';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
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

/** Every statement text that a `pg` client sends while `fn` runs, with the client that sent it. */
async function recordQueries<T>(fn: () => Promise<T>): Promise<{ result: T; sent: { client: pg.Client; text: string }[] }> {
  const sent: { client: pg.Client; text: string }[] = [];
  const query = pg.Client.prototype.query;
  pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
    const first = args[0] as string | { text?: string };
    sent.push({ client: this, text: typeof first === 'string' ? first : (first.text ?? '') });
    return (query as (...a: unknown[]) => unknown).apply(this, args);
  } as typeof query;
  try {
    return { result: await fn(), sent };
  } finally {
    pg.Client.prototype.query = query;
  }
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
    if (/(^|; )(COMMIT|ROLLBACK)$/.test(text)) {
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

  it('takes three round trips in set mode: BEGIN with the lock and the read, the apply, the advance with COMMIT', async () => {
    const { migration, input } = await prepare('trips', 300, 100);
    const { result, sent } = await recordQueries(() => newEngine().runChunk(migration, input, quietPort()));
    expect(result).toMatchObject({ done: true, rowsUpdated: 300 });

    const transactions = roundTripsPerTransaction(sent).filter((t) => t.texts[0].includes('pg_advisory_xact_lock'));
    expect(transactions.length).toBeGreaterThanOrEqual(4); // three full batches and the short last one
    for (const { texts } of transactions) {
      expect(texts).toHaveLength(3);
      expect(texts[0]).toMatch(/^BEGIN; SELECT pg_advisory_xact_lock\(.*;\nSELECT pass, last_key/s);
      expect(texts[1]).toMatch(/^WITH ferry_batch AS/);
      expect(texts[2]).toMatch(/^SELECT stop_requested, blocked FROM ferry\.advance_checkpoint\(.*\); COMMIT$/s);
    }
    expect(await touchHistogram(db.pool, 'trips')).toEqual({ '1': 300 });
  }, 60_000);
});
