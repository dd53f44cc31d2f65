/**
 * Seed 002 (VTS) end to end through the CLI and a `ferry worker` process: a cached computed column
 * kept in sync by ferry's trigger (no deploy signal), filled by the backfill while the application
 * inserts and updates orders from another connection, contracted without approval after a short
 * cool-off, with the trigger and its function removed.
 */
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { eventually } from '../helpers/fixtures';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { createHarness, type Harness } from '../helpers/harness';

const EXAMPLE = path.resolve(__dirname, '../../migrations/examples/cached-total.ts');
const ROWS = 20_000;

let db: TestDatabase;
let h: Harness;

beforeAll(async () => {
  db = await createTestDatabase('lifecycle_orders');
  await db.pool.query(`
    CREATE TABLE orders (id bigserial PRIMARY KEY, price_cents int NOT NULL, quantity int NOT NULL);
    INSERT INTO orders (price_cents, quantity) SELECT 100 + g % 9973, 1 + g % 7 FROM generate_series(1, ${ROWS}) g;
    ANALYZE orders;`);
  h = createHarness(db, { 'cached-total': EXAMPLE });
});

afterAll(async () => {
  await h?.close();
  await db?.drop();
});

/** What the application did: orders inserted, and writes made while the backfill had partitions left. */
interface AppWrites {
  inserted: number;
  duringBackfill: number;
  /** Whether ferry's trigger was on the table every time the backfill was seen running. */
  triggerThroughout: boolean;
}

/** Where the backfill is, and whether ferry's trigger is on the table. */
interface Observed {
  backfill: 'before' | 'running' | 'done';
  trigger: boolean;
}

/** `running` while the backfill has started and not finished, `done` once every partition is done. */
async function observe(migration: string): Promise<Observed> {
  const { rows } = await db.pool.query(
    `SELECT count(*)::int AS partitions, COALESCE(bool_and(done), false) AS done,
            EXISTS (SELECT FROM pg_trigger WHERE tgrelid = 'orders'::regclass AND tgname = 'ferry_dw_' || $1::text) AS trigger
       FROM ferry.backfill_checkpoints WHERE migration = $1::text`,
    [migration],
  );
  const r = rows[0];
  return { backfill: r.partitions === 0 ? 'before' : r.done ? 'done' : 'running', trigger: r.trigger };
}

/**
 * The application, which knows nothing of total_cents until the contract: inserts orders and
 * changes the price or quantity of existing ones (spread over the whole key range, so some are
 * rows the backfill has passed). It stops once the backfill is done, before any contract, or
 * after `maxMs` should the backfill never end.
 */
async function appWrites(migration: string, maxMs = 60_000): Promise<AppWrites> {
  const writes: AppWrites = { inserted: 0, duringBackfill: 0, triggerThroughout: true };
  const deadline = Date.now() + maxMs;
  for (let n = 0; Date.now() < deadline; n++) {
    const seen = await observe(migration);
    if (seen.backfill === 'done') break;
    await db.pool.query(`INSERT INTO orders (price_cents, quantity) VALUES ($1::int, $2::int)`, [500 + n, 1 + (n % 5)]);
    const id = 1 + ((n * 7919) % ROWS);
    const change = n % 2 === 0 ? 'price_cents = price_cents + 1' : 'quantity = quantity + 1';
    await db.pool.query(`UPDATE orders SET ${change} WHERE id = $1::bigint`, [id]);
    writes.inserted += 1;
    if (seen.backfill === 'running') {
      writes.duringBackfill += 2;
      writes.triggerThroughout &&= seen.trigger;
    }
  }
  return writes;
}

test('runs expand (with trigger) → backfill → verify → cool-off → contract without approval', async () => {
  await h.startWorker();
  const name = h.name('cached-total');

  const app = appWrites(name); // writes before the expand too: those rows are the backfill's
  const started = await h.ferry('start', name, '--cool-off', '1s', '--wait-for', 'expanded');
  expect(started.stderr).toBe('');
  expect(started.code).toBe(0);

  const writes = await app;
  expect(writes.duringBackfill).toBeGreaterThan(0);
  expect(writes.triggerThroughout).toBe(true);
  const done = await h.waitForPhase('cached-total', 'completed', 60_000);
  expect(done).toMatchObject({ phase: 'completed', deployed: false, rowsFailed: 0, verify: { wrongRows: 0 } });
  expect(done.rowsDone).toBeGreaterThanOrEqual(ROWS);

  const wrong = await db.pool.query(
    `SELECT count(*)::int AS n, count(*) FILTER (WHERE total_cents IS NULL)::int AS missing
       FROM orders WHERE total_cents IS DISTINCT FROM price_cents::bigint * quantity`,
  );
  expect(wrong.rows[0]).toEqual({ n: 0, missing: 0 });
  const count = await db.pool.query(`SELECT count(*)::int AS n FROM orders`);
  expect(count.rows[0].n).toBe(ROWS + writes.inserted);
  const trigger = await db.pool.query(`SELECT tgname FROM pg_trigger WHERE tgname = $1::text`, [`ferry_dw_${name}`]);
  expect(trigger.rows).toEqual([]);
  const fn = await db.pool.query(`SELECT proname FROM pg_proc WHERE proname = $1::text`, [`dw_${name}`]);
  expect(fn.rows).toEqual([]);
  const comment = await db.pool.query(
    `SELECT col_description(attrelid, attnum) AS c FROM pg_attribute WHERE attrelid = 'orders'::regclass AND attname = 'total_cents'`,
  );
  expect(comment.rows[0].c).toMatch(/written by the application/);

  const history = await h.ferry('history', name, '--json');
  const actions = JSON.parse(history.stdout).map((e: { action: string }) => e.action);
  expect(actions).toEqual(expect.arrayContaining(['started', 'expanded', 'contracted']));
  expect(actions).not.toContain('approved');
}, 90_000);

test('after Temporal forgets the completed workflow (retention), a new start changes nothing', async () => {
  const name = h.name('cached-total');
  const recorded = await db.pool.query('SELECT spec_hash FROM ferry.completed_migrations WHERE migration = $1::text', [name]);
  expect(recorded.rows).toHaveLength(1);
  const connection = await Connection.connect({ address: process.env.TEMPORAL_ADDRESS });
  try {
    const namespace = process.env.TEMPORAL_NAMESPACE ?? 'default';
    const client = new Client({ connection, namespace });
    // The server deletes a closed workflow in a background task that waits for its visibility
    // record and backs off when that lags (a loaded CI machine): ask again every few seconds.
    let askedAt = 0;
    const gone = async () => {
      if (Date.now() - askedAt > 5_000) {
        askedAt = Date.now();
        const workflowExecution = { workflowId: `migration/${name}` };
        await connection.workflowService.deleteWorkflowExecution({ namespace, workflowExecution }).catch(() => undefined);
      }
      return client.workflow
        .getHandle(`migration/${name}`)
        .describe()
        .then(
          () => false,
          () => true,
        );
    };
    await eventually('the workflow to be deleted', gone, 90_000);
  } finally {
    await connection.close();
  }
  await db.pool.query(`COMMENT ON COLUMN orders.total_cents IS 'changed after the contract'`);

  expect((await h.ferry('start', name, '--cool-off', '1s')).code).toBe(0);
  const again = await h.waitForPhase('cached-total', 'completed', 60_000);
  expect(again.phase).toBe('completed');
  const actions = JSON.parse((await h.ferry('history', name, '--json')).stdout).map((e: { action: string }) => e.action);
  expect(actions).toEqual(['started', 'already completed']);
  const comment = await db.pool.query(
    `SELECT col_description(attrelid, attnum) AS c FROM pg_attribute WHERE attrelid = 'orders'::regclass AND attname = 'total_cents'`,
  );
  expect(comment.rows[0].c).toBe('changed after the contract'); // contract.up did not run again
}, 180_000);
