/**
 * Deadline mode: `ferry start --deadline` paces the backfill to finish on time with the least
 * load; `ferry finalize` runs the rest now; a deadline that cannot be met is reported.
 */
import { checkpointTotals, eventually, slowPostsMigration, updateCounts, writeMigration, usePostsHarness } from '../helpers/fixtures';

const ROWS = 3000;
const ctx = usePostsHarness('deadline', ROWS);

const status = async (name: string) => JSON.parse((await ctx.h.ferry('status', name, '--json')).stdout);

test('paces to the deadline, and finalize runs the rest at once', async () => {
  const name = writeMigration(ctx.h, 'paced', slowPostsMigration({ batchSize: 50, pause: '0ms' }));
  expect((await ctx.h.ferry('start', name, '--deadline', '10m', '--cool-off', '1s')).code).toBe(0);
  await eventually('the backfill to start', async () => (await checkpointTotals(ctx.db.pool, name)).batches >= 1);
  await new Promise((r) => setTimeout(r, 4000));
  // Unpaced, 3000 rows take well under a second here; paced to 10 minutes they need ~5 rows/s.
  expect((await checkpointTotals(ctx.db.pool, name)).rows).toBeLessThan(ROWS / 2);
  const paced = await status(name);
  expect(paced).toMatchObject({ phase: 'backfilling', deadline: { onTrack: true } });
  expect(paced.deadline.neededRowsPerSec).toBeGreaterThan(0);

  expect((await ctx.h.ferry('finalize', name, '--by', 'dana', '--reason', 'release tomorrow')).code).toBe(0);
  const done = await ctx.h.waitForPhase('paced', 'completed', 60_000);
  expect(done).toMatchObject({ phase: 'completed', finalized: { by: 'dana' } });
  expect(await updateCounts(ctx.db.pool)).toEqual({ '1': ROWS });
  expect((await ctx.h.ferry('finalize', name)).code).toBe(3); // nothing left to finalize
}, 120_000);

test('a deadline that passes with rows left is reported, and the backfill runs on unpaced', async () => {
  await ctx.db.pool.query('ALTER TABLE posts ADD COLUMN IF NOT EXISTS member_id int; UPDATE posts SET member_id = 1 + id % 100');
  const name = writeMigration(ctx.h, 'late', slowPostsMigration({ batchSize: 20, pause: '100ms' }));
  expect((await ctx.h.ferry('start', name, '--deadline', '2s', '--cool-off', '1s')).code).toBe(0);
  const done = await ctx.h.waitForPhase('late', 'completed', 90_000);
  expect(done.phase).toBe('completed');
  expect(done.deadline).toMatchObject({ onTrack: false, missed: true });
  expect((done.deadline as { note: string }).note).toContain('passed with');
}, 120_000);
