/**
 * A worker killed with SIGKILL in the middle of the backfill, then restarted: the migration
 * finishes with no row missed and no batch applied twice (a trigger counts UPDATEs per row).
 */
import {
  checkpointTotals,
  eventually,
  slowPostsMigration,
  updateCounts,
  writeMigration,
  resetCountedPosts,
  usePostsHarness,
} from '../helpers/fixtures';

const ROWS = 20_000;
const ctx = usePostsHarness('crash', ROWS, { worker: false });

test('SIGKILL mid-backfill: the next worker resumes from the checkpoint; every row updated exactly once', async () => {
  const name = writeMigration(ctx.h, 'crash', slowPostsMigration({ batchSize: 100, pause: '30ms' }));
  const first = await ctx.h.startWorker();
  expect((await ctx.h.ferry('start', name, '--cool-off', '1s')).code).toBe(0);

  await eventually('a third of the backfill', async () => (await checkpointTotals(ctx.db.pool, name)).rows >= ROWS / 3);
  await first.stop('SIGKILL');
  const atKill = await checkpointTotals(ctx.db.pool, name);
  expect(atKill.rows).toBeLessThan(ROWS);

  await new Promise((r) => setTimeout(r, 1000));
  const afterKill = await checkpointTotals(ctx.db.pool, name);
  expect(afterKill).toEqual(atKill); // nothing runs without a worker

  const second = await ctx.h.startWorker();
  const done = await ctx.h.waitForPhase('crash', 'completed', 120_000);
  expect(done.phase).toBe('completed');
  expect(await updateCounts(ctx.db.pool)).toEqual({ '1': ROWS });
  const missing = await ctx.db.pool.query('SELECT count(*)::int AS n FROM posts WHERE member_uuid IS NULL');
  expect(missing.rows[0].n).toBe(0);
  expect(done.rowsDone).toBe(ROWS);
  await second.stop('SIGTERM'); // the next test needs its worker to be the only one polling
}, 180_000);

test('SIGTERM: the worker lets the in-flight batch finish and checkpoint, exits, and the next worker carries on', async () => {
  await resetCountedPosts(ctx.db.pool, ROWS);
  const name = writeMigration(ctx.h, 'sigterm', slowPostsMigration({ batchSize: 100, pause: '30ms' }));
  const first = await ctx.h.startWorker();
  expect((await ctx.h.ferry('start', name, '--cool-off', '1s')).code).toBe(0);
  await eventually('a fifth of the backfill', async () => (await checkpointTotals(ctx.db.pool, name)).rows >= ROWS / 5);

  const stopping = Date.now();
  await first.stop('SIGTERM');
  expect(Date.now() - stopping).toBeLessThan(30_000); // graceful, not the force timeout
  expect(first.proc.exitCode === 0 || first.proc.signalCode === null).toBe(true);
  const atStop = await checkpointTotals(ctx.db.pool, name);
  const counted = await ctx.db.pool.query('SELECT COALESCE(sum(n), 0)::int AS n FROM post_updates');
  expect(counted.rows[0].n).toBe(atStop.rows); // every committed batch is checkpointed, and no other

  await ctx.h.startWorker();
  const done = await ctx.h.waitForPhase('sigterm', 'completed', 120_000);
  expect(done.phase).toBe('completed');
  expect(await updateCounts(ctx.db.pool)).toEqual({ '1': ROWS });
}, 180_000);
