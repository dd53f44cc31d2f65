/**
 * `ferry plan`: validates, prints the DDL, estimates rows, measures a trial batch in a rolled-back
 * transaction, and exits 1 when a deadline cannot be met. It changes nothing.
 */
import path from 'node:path';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { createHarness, runFerry, variantSource, type Harness } from '../helpers/harness';

const EXAMPLE = path.resolve(__dirname, '../../migrations/examples/posts-member-uuid.ts');
let db: TestDatabase;
let h: Harness;

beforeAll(async () => {
  db = await createTestDatabase('plan');
  await db.pool.query(`
    CREATE TABLE members (id serial PRIMARY KEY, uuid uuid NOT NULL DEFAULT gen_random_uuid());
    INSERT INTO members SELECT FROM generate_series(1, 100);
    CREATE TABLE posts (id bigserial PRIMARY KEY, member_id int REFERENCES members, body text);
    INSERT INTO posts (member_id, body) SELECT 1 + g % 100, 'x' FROM generate_series(1, 50000) g;
    ANALYZE posts;`);
  h = createHarness(db, { 'posts-member-uuid': EXAMPLE });
});

afterAll(async () => {
  await h?.close();
  await db?.drop();
});

const snapshot = async () =>
  (
    await db.pool.query(`SELECT count(*) FILTER (WHERE column_name = 'member_uuid')::int AS added, count(*)::int AS columns
                          FROM information_schema.columns WHERE table_name = 'posts'`)
  ).rows[0];

test('plans without changing anything, and fails a deadline it cannot meet', async () => {
  const name = h.name('posts-member-uuid');
  const before = await snapshot();
  const ok = await h.ferry('plan', name, '--deadline', '30d', '--json');
  expect(ok.code).toBe(0);
  const plan = JSON.parse(ok.stdout);
  expect(plan).toMatchObject({
    table: '"public"."posts"',
    key: ['id'],
    ddl: {
      expand: ['ALTER TABLE posts ADD COLUMN IF NOT EXISTS member_uuid uuid'],
      contract: ['ALTER TABLE posts DROP COLUMN IF EXISTS member_id'],
    },
    trial: { ran: true, rows: 2000, updated: 2000, expandedInTrial: true },
    deadline: { meets: true },
  });
  expect(plan.estimatedRows).toBeGreaterThan(40_000);
  expect(plan.trial.rowsPerSec).toBeGreaterThan(0);
  expect(plan.etaSeconds).toBeGreaterThan(0);

  const late = await h.ferry('plan', name, '--deadline', '1ms');
  expect(late.code).toBe(1);
  expect(late.stdout).toContain('CANNOT be met');
  expect(late.stderr).toContain(`migration "${name}" cannot meet its deadline`);
  expect(await snapshot()).toEqual(before);
  const untouched = await db.pool.query('SELECT count(*)::int AS n FROM posts WHERE body <> $1', ['x']);
  expect(untouched.rows[0].n).toBe(0);
});

test('a missing table is bad input', async () => {
  await db.pool.query('ALTER TABLE posts RENAME TO posts_elsewhere');
  try {
    const r = await h.ferry('plan', h.name('posts-member-uuid'));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('table "public"."posts" does not exist');
  } finally {
    await db.pool.query('ALTER TABLE posts_elsewhere RENAME TO posts');
  }
});

const STACK = /\n\s+at /;

test('invalid SQL in backfill.set exits 2 from plan and start, naming the field and the error, changing nothing', async () => {
  const name = h.addMigration('bad-set', variantSource(EXAMPLE, { set: 'member_uuid = no_such_fn(member_id)' }));
  const before = await snapshot();
  const plan = await h.ferry('plan', name);
  expect(plan.code).toBe(2);
  expect(plan.stderr.trim()).toMatch(
    new RegExp(`^ferry: migration "${name}": backfill.set failed in the trial: function no_such_fn\\(integer\\) does not exist`),
  );
  expect(plan.stderr).toContain('nothing was changed');
  expect(plan.stderr).not.toMatch(STACK);
  expect(await snapshot()).toEqual(before); // expand's column is not there afterwards

  const start = await h.ferry('start', name);
  expect(start.code).toBe(2);
  expect(start.stderr).toContain(`migration "${name}": backfill.set failed in the trial: function no_such_fn(integer) does not exist`);
  expect(start.stderr).not.toMatch(STACK);
  expect((await h.ferry('status', name)).code).toBe(2); // no workflow was started
  expect(await snapshot()).toEqual(before);
});

test('a bad verify.where is refused too, and a good start says what it proved', async () => {
  const bad = h.addMigration(
    'bad-verify',
    `import base from ${JSON.stringify(EXAMPLE.replace(/\.ts$/, ''))};\nexport default { ...base, verify: { where: 'member_uuidd IS NULL' } };\n`,
  );
  const r = await h.ferry('plan', bad);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain(`migration "${bad}": verify.where failed in the trial: column "member_uuidd" does not exist`);
  const ok = await h.ferry('plan', h.name('posts-member-uuid'));
  expect(ok.stdout).toContain('proved:         expand.up, backfill.set, verify.where (in a transaction that was rolled back)');
});

test('a missing database is bad input in one line', async () => {
  const url = new URL(db.url);
  url.pathname = '/ferry_no_such_database';
  const r = await runFerry(['plan', h.name('posts-member-uuid')], { ...h.env, DATABASE_URL: url.toString() });
  expect(r.code).toBe(2);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).toContain('database "ferry_no_such_database" does not exist');
  expect(r.stderr).toContain('fix DATABASE_URL');
});

test('a lock held on the table fails the trial with exit 1 (not bad SQL), in one line', async () => {
  const blocker = await db.connect();
  try {
    await blocker.query('BEGIN; LOCK TABLE posts IN ACCESS SHARE MODE');
    const r = await runFerry(['plan', h.name('posts-member-uuid')], { ...h.env, FERRY_LOCK_TIMEOUT: '200ms' });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('table "public"."posts" is locked by another transaction; the trial of expand.up waited 200ms');
  } finally {
    await blocker.query('ROLLBACK');
  }
});

test('the ETA divides by backfill.concurrency, and the advice does not ask for more when it is high', async () => {
  const name = h.addMigration('parallel', variantSource(EXAMPLE, { concurrency: 8 }));
  const r = await h.ferry('plan', name, '--json');
  expect(r.code).toBe(0);
  const plan = JSON.parse(r.stdout);
  expect(plan.concurrency).toBe(8);
  expect(plan.etaSeconds).toBe(Math.ceil(plan.estimatedRows / (plan.trial.rowsPerSec * 8)));
  const late = await h.ferry('plan', name, '--deadline', '1ms');
  expect(late.stdout).toContain("at the trial's rate, 8 partitions at once");
  expect(late.stdout).toContain('CANNOT be met at this rate; raise batch size, or allow more time');
  const one = await h.ferry('plan', h.name('posts-member-uuid'), '--deadline', '1ms');
  expect(one.stdout).toContain('raise backfill.concurrency (now 1)');
});
