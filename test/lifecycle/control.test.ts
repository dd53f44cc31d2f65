/**
 * Operators' controls through the CLI: pause stops the backfill within one batch and resume
 * continues from the checkpoint; abort with rollback leaves the table as it was before expand;
 * the audit trail records who and why.
 */
import {
  checkpointTotals,
  eventually,
  slowPostsMigration,
  updateCounts,
  writeMigration,
  postColumns,
  resetCountedPosts,
  usePostsHarness,
} from '../helpers/fixtures';

const ROWS = 10_000;
const ctx = usePostsHarness('control', ROWS);

const columns = () => postColumns(ctx.db.pool);

test('pause stops the backfill within one batch; resume continues from the checkpoint', async () => {
  const name = writeMigration(ctx.h, 'pausing', slowPostsMigration({ batchSize: 100, pause: '50ms' }));
  expect((await ctx.h.ferry('start', name, '--cool-off', '1s')).code).toBe(0);
  await eventually('some batches', async () => (await checkpointTotals(ctx.db.pool, name)).batches >= 5);

  const paused = await ctx.h.ferry('pause', name, '--by', 'bob', '--reason', 'peak traffic', '--json');
  expect(paused.code).toBe(0);
  expect(JSON.parse(paused.stdout)).toMatchObject({ paused: true, pauseReason: 'peak traffic' });
  const atPause = await checkpointTotals(ctx.db.pool, name);
  await new Promise((r) => setTimeout(r, 3000));
  const later = await checkpointTotals(ctx.db.pool, name);
  expect(later.batches - atPause.batches).toBeLessThanOrEqual(1); // the batch in flight, at most
  expect(later.rows).toBeLessThan(ROWS);
  const status = JSON.parse((await ctx.h.ferry('status', name, '--json')).stdout);
  expect(status).toMatchObject({ phase: 'backfilling', paused: true });

  expect((await ctx.h.ferry('pause', name)).code).toBe(3); // already paused
  expect((await ctx.h.ferry('resume', name, '--by', 'bob')).code).toBe(0);
  const done = await ctx.h.waitForPhase('pausing', 'completed', 90_000);
  expect(done.phase).toBe('completed');
  expect(await updateCounts(ctx.db.pool)).toEqual({ '1': ROWS });

  const audit = JSON.parse((await ctx.h.ferry('history', name, '--json')).stdout);
  expect(audit).toEqual(
    expect.arrayContaining([
      expect.objectContaining({ action: 'paused', by: 'bob', detail: 'peak traffic' }),
      expect.objectContaining({ action: 'resumed', by: 'bob' }),
    ]),
  );
  expect((await ctx.h.ferry('abort', name)).code).toBe(3); // completed: nothing to abort
}, 150_000);

test('abort with rollback in the middle of the backfill leaves the table as it was before expand', async () => {
  await resetCountedPosts(ctx.db.pool, ROWS);
  const before = await columns();
  const triggersBefore = await ctx.db.pool.query(`SELECT tgname FROM pg_trigger WHERE tgrelid = 'posts'::regclass AND NOT tgisinternal`);
  const name = writeMigration(ctx.h, 'aborting', slowPostsMigration({ batchSize: 100, pause: '50ms' }));
  expect((await ctx.h.ferry('start', name, '--wait-for', 'backfilling')).code).toBe(0);
  expect(await columns()).toContain('member_uuid');
  await eventually('some batches', async () => (await checkpointTotals(ctx.db.pool, name)).batches >= 3);

  const aborted = await ctx.h.ferry('abort', name, '--rollback', '--by', 'carol', '--reason', 'wrong column type');
  expect(aborted.code).toBe(0);
  const final = await ctx.h.waitForPhase('aborting', 'aborted', 60_000);
  expect(final).toMatchObject({ phase: 'aborted', abort: { by: 'carol', reason: 'wrong column type', rollback: true } });
  expect(await columns()).toEqual(before);
  const triggersAfter = await ctx.db.pool.query(`SELECT tgname FROM pg_trigger WHERE tgrelid = 'posts'::regclass AND NOT tgisinternal`);
  expect(triggersAfter.rows).toEqual(triggersBefore.rows);

  // An aborted migration can be started again from scratch.
  expect((await ctx.h.ferry('start', name, '--wait-for', 'expanded')).code).toBe(0);
  expect((await ctx.h.ferry('abort', name, '--rollback')).code).toBe(0);
}, 150_000);
