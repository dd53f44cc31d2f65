/**
 * Seed 001 end to end through the CLI and a `ferry worker` process: expand, the deploy signal
 * with the application writing both shapes (from another connection) during the backfill,
 * verify, a short cool-off, an approval that arrives early, and the contract.
 */
import path from 'node:path';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { createHarness, type Harness } from '../helpers/harness';

const EXAMPLE = path.resolve(__dirname, '../../migrations/examples/posts-member-uuid.ts');
const ROWS = 20_000;

let db: TestDatabase;
let h: Harness;

beforeAll(async () => {
  db = await createTestDatabase('lifecycle_posts');
  await db.pool.query(`
    CREATE TABLE members (id serial PRIMARY KEY, uuid uuid NOT NULL DEFAULT gen_random_uuid());
    INSERT INTO members SELECT FROM generate_series(1, 500);
    CREATE TABLE posts (id bigserial PRIMARY KEY, member_id int REFERENCES members, body text);
    INSERT INTO posts (member_id, body) SELECT 1 + (g % 500), 'post ' || g FROM generate_series(1, ${ROWS}) g;
    ANALYZE posts;`);
  h = createHarness(db, { 'posts-member-uuid': EXAMPLE });
});

afterAll(async () => {
  await h?.close();
  await db?.drop();
});

/** The application after the dual-write deploy: new posts carry both shapes. */
async function appWrites(stop: () => boolean): Promise<number> {
  let n = 0;
  while (!stop()) {
    await db.pool.query(
      `INSERT INTO posts (member_id, member_uuid, body)
       SELECT m.id, m.uuid, 'new post' FROM members m WHERE m.id = 1 + ($1::int % 500)`,
      [n],
    );
    await db.pool.query(`UPDATE posts SET body = 'edited' WHERE id = $1::bigint`, [1 + ((n * 7919) % ROWS)]);
    n++;
  }
  return n;
}

test('runs expand → deployed → backfill → verify → cool-off → approve → contract', async () => {
  await h.startWorker();
  const name = h.name('posts-member-uuid');

  const started = await h.ferry('start', name, '--cool-off', '2s', '--wait-for', 'expanded');
  expect(started.stderr).toBe('');
  expect(started.code).toBe(0);
  const col = await db.pool.query(`SELECT 1 FROM information_schema.columns WHERE table_name = 'posts' AND column_name = 'member_uuid'`);
  expect(col.rowCount).toBe(1);

  let stopApp = false;
  const app = appWrites(() => stopApp);
  try {
    expect((await h.ferry('deployed', name, '--reason', 'release 42')).code).toBe(0);
    const waiting = await h.waitForPhase('posts-member-uuid', 'awaiting-approval', 120_000);
    expect(waiting).toMatchObject({ phase: 'awaiting-approval', deployed: true, probe: { ok: true, badRows: 0 } });
    expect(waiting.verify).toMatchObject({ wrongRows: 0 });
    expect(waiting.rowsDone).toBeGreaterThanOrEqual(ROWS);
  } finally {
    stopApp = true; // the next deploy reads member_uuid only and stops writing member_id
  }
  expect(await app).toBeGreaterThan(0);
  expect((await h.ferry('approve', name, '--by', 'alice')).code).toBe(0);
  const done = await h.waitForPhase('posts-member-uuid', 'completed', 60_000);
  expect(done.phase).toBe('completed');

  const cols = await db.pool.query(`SELECT column_name FROM information_schema.columns WHERE table_name = 'posts' ORDER BY 1`);
  expect(cols.rows.map((r) => r.column_name)).toEqual(['body', 'id', 'member_uuid']);
  const missing = await db.pool.query(`SELECT count(*)::int AS n FROM posts WHERE member_uuid IS NULL`);
  expect(missing.rows[0].n).toBe(0);

  const history = await h.ferry('history', name, '--json');
  const actions = JSON.parse(history.stdout).map((e: { action: string; by: string }) => `${e.action}:${e.by}`);
  expect(actions).toEqual(expect.arrayContaining(['started:jest', 'deployed:jest', 'approved:alice', 'contracted:ferry']));

  const again = await h.ferry('start', name);
  expect(again.code).toBe(0);
  expect(again.stdout).toContain('already completed');
}, 180_000);
