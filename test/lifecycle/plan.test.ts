/**
 * `ferry plan`: validates, prints the DDL, estimates rows, measures a trial batch in a rolled-back
 * transaction, and exits 1 when a deadline cannot be met. It changes nothing.
 */
import path from 'node:path';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { createHarness, type Harness } from '../helpers/harness';

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
