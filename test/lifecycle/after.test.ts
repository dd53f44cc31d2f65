/**
 * Migrations that wait for each other, end to end: `after` makes one wait until another has
 * completed (it says so in `status`), unknown names and cycles are refused at `ferry start`
 * (exit 2, nothing started), and two migrations whose DDL changes the same column of a table take
 * turns: the second waits and says for which.
 */
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { createCountedPosts, eventually, slowPostsMigration, writeMigration } from '../helpers/fixtures';
import { createHarness, runFerry, type Harness } from '../helpers/harness';
import { testTemporal } from '../helpers/temporal';

let db: TestDatabase;
let h: Harness;

/** A small migration on `posts` adding `column`, waiting for `after` (names as written, unsuffixed). */
function columnMigration(column: string, after: unknown[] = []): string {
  return `import { defineMigration } from 'ferry';
export default defineMigration({
  table: 'posts',
  expand: {
    up: 'ALTER TABLE posts ADD COLUMN IF NOT EXISTS ${column} text',
    down: 'ALTER TABLE posts DROP COLUMN IF EXISTS ${column}',
  },
  dualWrite: { by: 'trigger', body: 'NEW.${column} := coalesce(NEW.${column}, NEW.body);' },
  backfill: { where: '${column} IS NULL', set: '${column} = body', batchSize: 500 },
  contract: { up: 'ALTER TABLE posts ALTER COLUMN ${column} SET DEFAULT NULL', after: '1s', approval: false },
  after: ${JSON.stringify(after)},
});
`;
}

/** A migration that changes `posts.member_uuid` (as the first one does) and nothing else. */
const SAME_COLUMN = `import { defineMigration } from 'ferry';
export default defineMigration({
  table: 'posts',
  expand: {
    up: 'ALTER TABLE posts ADD COLUMN IF NOT EXISTS member_uuid uuid',
    down: 'ALTER TABLE posts ALTER COLUMN member_uuid DROP DEFAULT',
  },
  dualWrite: { by: 'trigger', body: 'NULL;' },
  backfill: { where: 'member_uuid IS NULL AND body IS NULL', set: "body = ''" },
  contract: { up: 'ALTER TABLE posts ALTER COLUMN member_uuid SET DEFAULT NULL', after: '1s', approval: false },
});
`;

beforeAll(async () => {
  db = await createTestDatabase('after');
  await createCountedPosts(db.pool, 3000);
  h = createHarness(db, {}, { FERRY_WAIT_POLL: '1s' });
  const first = h.name('uuid-first');
  writeMigration(h, 'uuid-first', slowPostsMigration({ batchSize: 100, pause: '30ms' }));
  writeMigration(h, 'title-second', columnMigration('title', [first]));
  writeMigration(h, 'summary-third', columnMigration('summary', [{ name: h.name('title-second'), phase: 'cooling-off' }]));
  writeMigration(h, 'uuid-index', SAME_COLUMN);
  writeMigration(h, 'gate', columnMigration('gate_col'));
  writeMigration(h, 'long-waiter', columnMigration('shared_col', [h.name('gate')]));
  writeMigration(h, 'late-sharer', columnMigration('shared_col'));
  writeMigration(h, 'holder', slowPostsMigration({ batchSize: 100, pause: '30ms' }).replace(/member_uuid/g, 'member_ref'));
  writeMigration(h, 'holder-follower', SAME_COLUMN.replace(/member_uuid/g, 'member_ref'));
  writeMigration(h, 'typo', columnMigration('typo_col', ['no-such-migration']));
  writeMigration(h, 'loop-a', columnMigration('loop_a', [h.name('loop-b')]));
  writeMigration(h, 'loop-b', columnMigration('loop_b', [h.name('loop-a')]));
  await h.startWorker();
});

afterAll(async () => {
  await h?.close();
  await db?.drop();
});

type Entry = { at: string; action: string; detail?: string };
const audit = async (name: string): Promise<Entry[]> => JSON.parse((await h.ferry('history', name, '--json')).stdout);
const at = (entries: Entry[], action: string) => Date.parse(entries.find((e) => e.action === action)?.at ?? 'missing');
const status = async (name: string) => JSON.parse((await h.ferry('status', name, '--json')).stdout);

test('an unknown name or a cycle in "after" is refused at start: exit 2, nothing started', async () => {
  const typo = await h.ferry('start', h.name('typo'));
  expect(typo.code).toBe(2);
  expect(typo.stderr).toContain(`migration "${h.name('typo')}" waits for "no-such-migration" (after), which is not a migration`);
  expect(typo.stderr).toContain('fix the name in "after"');
  const loop = await h.ferry('start', h.name('loop-a'));
  expect(loop.code).toBe(2);
  expect(loop.stderr).toContain(`waits for itself through "after": ${h.name('loop-a')} → ${h.name('loop-b')} → ${h.name('loop-a')}`);
  for (const name of [h.name('typo'), h.name('loop-a')]) {
    expect((await h.ferry('status', name)).code).not.toBe(0); // never started
  }
}, 60_000);

test('"after" runs migrations in order, and a migration changing the same column waits for the one that started first', async () => {
  const [first, second, third, sameColumn] = ['uuid-first', 'title-second', 'summary-third', 'uuid-index'].map((n) => h.name(n));
  // Started before what it waits for: it says so, and does not expand.
  expect((await h.ferry('start', third)).code).toBe(0);
  expect((await h.ferry('start', second, '--cool-off', '8s')).code).toBe(0);
  await eventually('the wait to show', async () => /has not been started/.test((await status(second)).waitingFor ?? ''));
  const waiting = await status(second);
  expect(waiting).toMatchObject({ phase: 'expanding', waits: [{ migration: first, reason: 'after' }] });
  expect(waiting.waitingFor).toContain(`migration "${first}" to complete; it has not been started: run "ferry start ${first}"`);
  expect((await h.ferry('status', second)).stdout).toMatch(new RegExp(`waiting: +before expand: migration "${first}" to complete`));

  expect((await h.ferry('start', first, '--cool-off', '10s', '--wait-for', 'backfilling')).code).toBe(0);
  // Same column (posts.member_uuid), started later: it waits for the first and says for which.
  expect((await h.ferry('start', sameColumn)).code).toBe(0);
  // (The first's 10 s cool-off keeps it running long enough to watch.)
  await eventually('the column wait', async () => (await status(sameColumn)).waits?.[0]?.reason === 'columns');
  const blocked = await status(sameColumn);
  expect(blocked.phase).toBe('expanding');
  expect(blocked.waitingFor).toMatch(
    new RegExp(`migration "${first}" to end \\(it is [a-z-]+\\): it started first and also changes "public"."posts" \\(member_uuid\\)`),
  );

  for (const name of ['uuid-first', 'title-second', 'summary-third', 'uuid-index']) await h.waitForPhase(name, 'completed', 150_000);
  const [a, b, c, d] = await Promise.all([first, second, third, sameColumn].map(audit));
  expect(at(b, 'expanded')).toBeGreaterThanOrEqual(at(a, 'contracted')); // after: completed
  // after: { phase: 'cooling-off' }: it expanded during the second's 8 s cool-off, not after its contract.
  expect(at(c, 'expanded')).toBeGreaterThanOrEqual(at(b, 'expanded'));
  expect(at(c, 'expanded')).toBeLessThan(at(b, 'contracted'));
  expect(c.find((e) => e.action === 'waiting')?.detail).toContain(`migration "${second}" to reach cooling-off`);
  expect(at(d, 'expanded')).toBeGreaterThanOrEqual(at(a, 'contracted')); // same column: after the first ended
  expect(b.find((e) => e.action === 'done waiting')?.detail).toContain(`"${first}"`);
  expect(d.find((e) => e.action === 'waiting')?.detail).toContain(`migration "${first}" to end`);
  const { rows } = await db.pool.query(
    `SELECT count(*) FILTER (WHERE title IS NULL)::int AS t, count(*) FILTER (WHERE summary IS NULL)::int AS s FROM posts`,
  );
  expect(rows[0]).toEqual({ t: 0, s: 0 });
}, 300_000);

test('a terminated migration holds nothing: the one waiting for its columns goes on', async () => {
  const [holder, follower] = [h.name('holder'), h.name('holder-follower')];
  // The first test's contract dropped member_id, which the holder's backfill reads.
  await db.pool.query('ALTER TABLE posts ADD COLUMN IF NOT EXISTS member_id int; UPDATE posts SET member_id = 1 + id % 100');
  expect((await h.ferry('start', holder, '--cool-off', '10m', '--wait-for', 'cooling-off')).code).toBe(0);
  expect((await h.ferry('start', follower)).code).toBe(0);
  await eventually('the column wait', async () => (await status(follower)).waits?.[0]?.migration === holder);
  // Terminated: no workflow code runs, so nothing could release a claim; ferry keeps none to release.
  const t = await testTemporal();
  try {
    await t.client.workflow.getHandle(`migration/${holder}`).terminate('test: a terminated holder');
  } finally {
    await t.close();
  }
  const done = await h.waitForPhase('holder-follower', 'completed', 90_000);
  expect(done.phase).toBe('completed');
  const entries = await audit(follower);
  expect(entries.find((e) => e.action === 'waiting')?.detail).toContain(`migration "${holder}" to end`);
  expect(entries.map((e) => e.action)).toContain('done waiting');
}, 180_000);

test('a migration keeps its place in line across continue-as-new: the later one waits for it, not the reverse', async () => {
  const [gate, waiter, later] = [h.name('gate'), h.name('long-waiter'), h.name('late-sharer')];
  // A short history limit: the waiter continues-as-new while it waits for the gate, after the
  // later one started (its new run starts after the later one; its chain does not).
  expect((await runFerry(['start', waiter, '--cool-off', '1s'], { ...h.env, FERRY_HISTORY_LIMIT: '40' })).code).toBe(0);
  expect((await h.ferry('start', later, '--cool-off', '1s')).code).toBe(0);
  await eventually('the later one to wait for the waiter', async () => (await status(later)).waits?.[0]?.migration === waiter);
  const t = await testTemporal();
  try {
    const handle = t.client.workflow.getHandle(`migration/${waiter}`);
    const firstRun = (await handle.describe()).raw.workflowExecutionInfo?.firstRunId;
    await eventually('a continue-as-new and a check after it', async () => {
      const d = await handle.describe();
      return d.runId !== firstRun && (await status(waiter)).waits !== undefined;
    });
    await eventually('two more checks', async () => (await handle.describe()).historyLength > 12);
  } finally {
    await t.close();
  }
  expect((await status(waiter)).waits).toEqual([expect.objectContaining({ migration: gate, reason: 'after' })]);
  expect((await h.ferry('start', gate, '--cool-off', '1s')).code).toBe(0);
  for (const name of ['gate', 'long-waiter', 'late-sharer']) await h.waitForPhase(name, 'completed', 120_000);
  const [w, l] = await Promise.all([waiter, later].map(audit));
  expect(at(l, 'expanded')).toBeGreaterThanOrEqual(at(w, 'contracted'));
  expect(w.filter((e) => e.action === 'waiting').map((e) => e.detail)).not.toEqual(
    expect.arrayContaining([expect.stringContaining(later)]),
  );
}, 240_000);
