/**
 * Failed rows must not be forgotten at the contract, end to end through the CLI and a `ferry
 * worker` process. A backfill into a unique column records 40 failed rows (collisions); `ferry
 * approve` re-runs them and is refused (exit 3) with the count and the query while any still
 * fail; `ferry retry-failed` re-runs them on demand; once every row is fixed, approve exits 0 and
 * the contract runs with every row migrated. `--accept-failed-rows` is the explicit way past,
 * recorded in `ferry history` with who.
 */
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { createHarness, type Harness } from '../helpers/harness';

const ROWS = 2000;
const COLLISIONS = 40;

/** accounts(id, email): every 50th row repeats the email of the row before it, in upper case. */
async function seed(db: TestDatabase): Promise<void> {
  await db.pool.query(`
    CREATE TABLE accounts (id bigserial PRIMARY KEY, email text NOT NULL);
    INSERT INTO accounts (email)
    SELECT CASE WHEN g % 50 = 0 THEN 'USER-' || (g - 1) || '@EXAMPLE.COM' ELSE 'user-' || g || '@example.com' END
      FROM generate_series(1, ${ROWS}) g;
    ANALYZE accounts;`);
}

/** SET NOT NULL the safe way on a table with rows: a validated CHECK first, so that it scans nothing. */
const CONTRACT = `[
    'ALTER TABLE accounts ADD CONSTRAINT accounts_email_lower_not_null CHECK (email_lower IS NOT NULL) NOT VALID',
    'ALTER TABLE accounts VALIDATE CONSTRAINT accounts_email_lower_not_null',
    'ALTER TABLE accounts ALTER COLUMN email_lower SET NOT NULL',
  ]`;

/** A migration to a unique, lower-cased email column; the contract makes it NOT NULL and drops nothing else. */
const MIGRATION = `export default {
  table: 'accounts',
  expand: {
    up: [
      'ALTER TABLE accounts ADD COLUMN IF NOT EXISTS email_lower text',
      'CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS accounts_email_lower ON accounts (email_lower)',
    ],
    down: ['DROP INDEX IF EXISTS accounts_email_lower', 'ALTER TABLE accounts DROP COLUMN IF EXISTS email_lower'],
  },
  dualWrite: { by: 'trigger', body: 'NEW.email_lower := lower(NEW.email);' },
  backfill: { where: 'email_lower IS NULL', set: 'email_lower = lower(email)', batchSize: 500 },
  contract: { up: ${CONTRACT} },
};
`;

/** Keys of the run's recorded failed rows, in order. */
async function failedKeys(db: TestDatabase, name: string): Promise<number[]> {
  const { rows } = await db.pool.query(`SELECT key[1]::int AS id FROM ferry.failed_rows WHERE migration = $1::text ORDER BY 1`, [name]);
  return rows.map((r) => r.id);
}

/** Gives rows unique emails (as an operator fixing the data would); the trigger sets email_lower. */
async function fixByHand(db: TestDatabase, ids: number[]): Promise<void> {
  await db.pool.query(`UPDATE accounts SET email = 'renamed-' || id || '@example.com' WHERE id = ANY($1::bigint[])`, [ids]);
}

/** Runs the migration to awaiting-approval with its 40 failed rows recorded. */
async function toApproval(h: Harness, db: TestDatabase, example: string): Promise<{ name: string; query: string }> {
  await h.startWorker();
  const name = h.name(example);
  const started = await h.ferry('start', name, '--cool-off', '1s');
  expect(started.stderr).toBe('');
  const held = await h.waitForPhase(example, 'awaiting-approval', 90_000);
  expect(held).toMatchObject({ phase: 'awaiting-approval', rowsFailed: COLLISIONS, failedRows: { remaining: COLLISIONS, fixed: 0 } });
  expect(await failedKeys(db, name)).toHaveLength(COLLISIONS);
  const query = (held.failedRows as { query: string }).query;
  expect(query).toMatch(new RegExp(`^SELECT \\* FROM ferry\\.failed_rows WHERE migration = '${name}' AND run_id = '[^']+'$`));
  const listed = await db.pool.query(query);
  expect(listed.rows.map((r) => r.sqlstate)).toEqual(Array(COLLISIONS).fill('23505'));
  return { name, query };
}

describe('approve with failed rows that still fail', () => {
  let db: TestDatabase;
  let h: Harness;

  beforeAll(async () => {
    db = await createTestDatabase('lifecycle_failed_rows');
    await seed(db);
    h = createHarness(db, {});
    h.addMigration('accounts-email', MIGRATION);
  });

  afterAll(async () => {
    await h?.close();
    await db?.drop();
  });

  test('is refused (exit 3) with the count and the query; retry-failed reduces it; fixed, the contract migrates every row', async () => {
    const { name, query } = await toApproval(h, db, 'accounts-email');

    // 30 fixed by hand, 10 left: approve re-runs them first and refuses, naming 10 and the query.
    const keys = await failedKeys(db, name);
    await fixByHand(db, keys.slice(0, 30));
    const refused = await h.ferry('approve', name, '--by', 'alice');
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain(`migration "${name}" has 10 recorded failed rows that still fail (30 fixed`);
    expect(refused.stderr).toContain(query);
    expect(refused.stderr).toContain(`"ferry approve ${name} --accept-failed-rows"`);
    expect(await failedKeys(db, name)).toEqual(keys.slice(30));
    const status = JSON.parse((await h.ferry('status', name, '--json')).stdout);
    expect(status).toMatchObject({ phase: 'awaiting-approval', rowsFailed: 10, failedRows: { remaining: 10 } });
    expect(status.approved).toBeUndefined();

    // 4 more fixed: retry-failed re-runs them on demand.
    await fixByHand(db, keys.slice(30, 34));
    const retried = await h.ferry('retry-failed', name, '--json');
    expect(retried.code).toBe(0);
    expect(JSON.parse(retried.stdout)).toMatchObject({ phase: 'awaiting-approval', failedRows: { remaining: 6, fixed: 4 } });
    expect(await failedKeys(db, name)).toEqual(keys.slice(34));

    // The rest fixed: approve exits 0 and the contract runs.
    await fixByHand(db, keys.slice(34));
    const approved = await h.ferry('approve', name, '--by', 'alice');
    expect(approved.stderr).toBe('');
    expect(approved.code).toBe(0);
    const done = await h.waitForPhase('accounts-email', 'completed', 60_000);
    expect(done).toMatchObject({ phase: 'completed', rowsFailed: 0 });
    expect(await failedKeys(db, name)).toEqual([]);
    const wrong = await db.pool.query(`SELECT count(*)::int AS n FROM accounts WHERE email_lower IS DISTINCT FROM lower(email)`);
    expect(wrong.rows[0].n).toBe(0);
    const audit = JSON.parse((await h.ferry('history', name, '--json')).stdout) as { action: string; by: string; detail?: string }[];
    expect(audit.map((e) => [e.action, e.by, e.detail])).toEqual(
      expect.arrayContaining([
        ['retried failed rows', 'ferry', '0 fixed, 40 remain'],
        ['retried failed rows', 'alice', '30 fixed, 10 remain'],
        ['retried failed rows', 'jest', '4 fixed, 6 remain'],
        ['retried failed rows', 'alice', '6 fixed, 0 remain'],
        ['approved', 'alice', undefined],
      ]),
    );
  }, 180_000);
});

describe('approve --accept-failed-rows', () => {
  let db: TestDatabase;
  let h: Harness;

  beforeAll(async () => {
    db = await createTestDatabase('lifecycle_accept_failed');
    await seed(db);
    h = createHarness(db, {});
    // A contract that can run with rows left behind: their email_lower stays NULL.
    h.addMigration('accounts-accept', MIGRATION.replace(CONTRACT, "'SELECT 1'"));
  });

  afterAll(async () => {
    await h?.close();
    await db?.drop();
  });

  test('contracts without the failed rows and records who accepted how many', async () => {
    const { name } = await toApproval(h, db, 'accounts-accept');
    const approved = await h.ferry('approve', name, '--by', 'bob', '--accept-failed-rows');
    expect(approved.stderr).toBe('');
    expect(approved.code).toBe(0);
    const done = await h.waitForPhase('accounts-accept', 'completed', 60_000);
    expect(done).toMatchObject({ phase: 'completed', approved: { by: 'bob', acceptedFailedRows: COLLISIONS } });
    const history = await h.ferry('history', name);
    expect(history.stdout).toMatch(/approved \(accepting 40 failed rows\)\s+bob/);
    const left = await db.pool.query(`SELECT count(*)::int AS n FROM accounts WHERE email_lower IS NULL`);
    expect(left.rows[0].n).toBe(COLLISIONS);
  }, 180_000);
});
