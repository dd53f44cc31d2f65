/**
 * Tables and migration files that tests build on: a `posts` table with a trigger that counts
 * every UPDATE per row (so a test can prove no batch was applied twice), and a way to write a
 * migration definition into a harness's migrations directory.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Pool } from 'pg';
import { createTestDatabase, type TestDatabase } from './db';
import { createHarness, type Harness } from './harness';

/** Creates members and `rows` posts, plus `post_updates`, which counts UPDATEs per post. */
export async function createCountedPosts(pool: Pool, rows: number): Promise<void> {
  await pool.query(`
    CREATE TABLE members (id serial PRIMARY KEY, uuid uuid NOT NULL DEFAULT gen_random_uuid());
    INSERT INTO members SELECT FROM generate_series(1, 100);
    CREATE TABLE posts (id bigserial PRIMARY KEY, member_id int REFERENCES members, body text);
    INSERT INTO posts (member_id, body) SELECT 1 + (g % 100), 'post ' || g FROM generate_series(1, ${rows}) g;
    CREATE TABLE post_updates (post_id bigint PRIMARY KEY, n int NOT NULL);
    CREATE FUNCTION count_post_update() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO post_updates VALUES (NEW.id, 1) ON CONFLICT (post_id) DO UPDATE SET n = post_updates.n + 1;
      RETURN NEW;
    END $$;
    CREATE TRIGGER count_post_update AFTER UPDATE ON posts FOR EACH ROW EXECUTE FUNCTION count_post_update();
    ANALYZE posts;`);
}

/** How many posts were updated 0, 1, 2... times: `{ '1': 20000 }` when every row was updated once. */
export async function updateCounts(pool: Pool): Promise<Record<string, number>> {
  const { rows } = await pool.query(`
    SELECT COALESCE(u.n, 0) AS times, count(*)::int AS posts
      FROM posts p LEFT JOIN post_updates u ON u.post_id = p.id GROUP BY 1 ORDER BY 1`);
  return Object.fromEntries(rows.map((r) => [String(r.times), r.posts]));
}

/** Options of `slowPostsMigration`; each absent one keeps the default named beside it. */
export interface SlowPostsOptions {
  /** `backfill.batchSize` (100). */
  batchSize?: number;
  /** `backfill.pause` ('20ms'); false: no pause. */
  pause?: string | false;
  /** `backfill.maxBatchSize` = `batchSize` (true); false: the adaptive sizer may grow the batches. */
  capped?: boolean;
  /** `backfill.set` (member_uuid from members). */
  set?: string;
  /** `dualWrite`: a trigger ('trigger'), or the application writes both shapes ('app'). */
  dualWrite?: 'trigger' | 'app';
  /** `verify.every`, a scheduled re-verify until the contract (none). */
  verifyEvery?: string;
  /** `contract.approval` (false). */
  approval?: boolean;
}

const DUAL_WRITE = {
  trigger: "{ by: 'trigger', body: 'NEW.member_uuid := (SELECT m.uuid FROM members m WHERE m.id = NEW.member_id);' }",
  app: "{ by: 'app' }",
};

/**
 * A posts → member_uuid migration with small (capped) batches and a pause, so a test can act mid-backfill.
 * @example
 * writeMigration(h, 'term', slowPostsMigration({ batchSize: 50, pause: '20ms', approval: true }));
 */
export function slowPostsMigration(opts: SlowPostsOptions = {}): string {
  const size = opts.batchSize ?? 100;
  const cap =
    opts.capped === false
      ? ''
      : `\n    maxBatchSize: ${size}, // the adaptive sizer would grow the batches and finish before the test acts`;
  const pause = opts.pause === false ? '' : `\n    pause: '${opts.pause ?? '20ms'}',`;
  const verify = opts.verifyEvery === undefined ? '' : `\n  verify: { every: '${opts.verifyEvery}' },`;
  return `import { defineMigration } from 'ferry';
export default defineMigration({
  table: 'posts',
  expand: {
    up: 'ALTER TABLE posts ADD COLUMN IF NOT EXISTS member_uuid uuid',
    down: 'ALTER TABLE posts DROP COLUMN IF EXISTS member_uuid',
  },
  dualWrite: ${DUAL_WRITE[opts.dualWrite ?? 'trigger']},
  backfill: {
    where: 'member_uuid IS NULL AND member_id IS NOT NULL',
    set: ${JSON.stringify(opts.set ?? 'member_uuid = (SELECT m.uuid FROM members m WHERE m.id = posts.member_id)')},
    batchSize: ${size},${cap}${pause}
  },${verify}
  contract: { up: 'ALTER TABLE posts DROP COLUMN IF EXISTS member_id', approval: ${opts.approval ?? false} },
});
`;
}

/**
 * Writes a migration file into the harness's directory, named like the harness names examples
 * (`h.name(example)`, so `h.waitForPhase(example, ...)` finds it), and returns that name.
 */
export function writeMigration(h: Harness, example: string, source: string): string {
  fs.writeFileSync(path.join(h.dir, `${h.name(example)}.ts`), source);
  return h.name(example);
}

/** Sum of the backfill checkpoints of a migration: rows scanned and batches. */
export async function checkpointTotals(pool: Pool, name: string): Promise<{ rows: number; batches: number }> {
  const { rows } = await pool.query(
    `SELECT COALESCE(sum(rows_scanned), 0)::int AS rows, COALESCE(sum(batches), 0)::int AS batches
       FROM ferry.backfill_checkpoints WHERE migration = $1::text`,
    [name],
  );
  return rows[0] ?? { rows: 0, batches: 0 };
}

/** Polls `check` every 100 ms until it returns true, or throws after `timeoutMs`. */
export async function eventually(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** The column names of `posts`, sorted. */
export async function postColumns(pool: Pool): Promise<string[]> {
  const { rows } = await pool.query(`SELECT column_name FROM information_schema.columns WHERE table_name = 'posts' ORDER BY 1`);
  return rows.map((r) => r.column_name);
}

/** What `usePostsHarness` sets up for a test file; its fields are filled in `beforeAll`. */
export interface PostsContext {
  db: TestDatabase;
  h: Harness;
}

/**
 * Registers jest hooks that give the test file its own database with `rows` counted posts, a
 * harness without examples, and (unless `worker: false`) a running `ferry worker`.
 * @example const ctx = usePostsHarness('control', 10_000); test('...', () => ctx.h.ferry('list'));
 */
export function usePostsHarness(prefix: string, rows: number, opts: { worker?: boolean } = {}): PostsContext {
  const ctx = {} as PostsContext;
  beforeAll(async () => {
    ctx.db = await createTestDatabase(prefix);
    await createCountedPosts(ctx.db.pool, rows);
    ctx.h = createHarness(ctx.db, {});
    if (opts.worker !== false) await ctx.h.startWorker();
  });
  afterAll(async () => {
    await ctx.h?.close();
    await ctx.db?.drop();
  });
  return ctx;
}

/** Drops and recreates the counted posts, for a second test in the same database. */
export async function resetCountedPosts(pool: Pool, rows: number): Promise<void> {
  await pool.query(
    'DROP TABLE IF EXISTS posts, post_updates CASCADE; DROP TABLE IF EXISTS members; DROP FUNCTION IF EXISTS count_post_update',
  );
  await createCountedPosts(pool, rows);
}
