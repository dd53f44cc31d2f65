/**
 * `backfill.concurrency: 3`: the key range is split into three partitions, each backfilled by its
 * own chunk activity with its own checkpoint; every row is updated exactly once.
 */
import { slowPostsMigration, updateCounts, writeMigration, usePostsHarness } from '../helpers/fixtures';

const ROWS = 9000;
const ctx = usePostsHarness('parallel', ROWS);

test('three partitions, three checkpoints, every row once', async () => {
  const source = slowPostsMigration({ batchSize: 200, pause: '10ms' }).replace('batchSize: 200,', 'batchSize: 200, concurrency: 3,');
  const name = writeMigration(ctx.h, 'parallel', source);
  expect((await ctx.h.ferry('start', name, '--cool-off', '1s')).code).toBe(0);
  const done = await ctx.h.waitForPhase('parallel', 'completed', 120_000);
  expect(done).toMatchObject({ phase: 'completed', rowsDone: ROWS });
  const partitions = await ctx.db.pool.query(
    `SELECT partition, rows_scanned::int AS rows, done FROM ferry.backfill_checkpoints WHERE migration = $1::text ORDER BY partition`,
    [name],
  );
  expect(partitions.rows).toHaveLength(3);
  expect(partitions.rows.every((p) => p.done && p.rows > 0)).toBe(true);
  expect(partitions.rows.reduce((n, p) => n + p.rows, 0)).toBe(ROWS);
  expect(await updateCounts(ctx.db.pool)).toEqual({ '1': ROWS });
}, 150_000);
