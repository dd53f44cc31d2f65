/**
 * Fault: two `ferry start` of the same migration at the same moment (two CI jobs), with two
 * workers serving it during the backfill. One migration runs; no row is updated twice.
 */
import { checkpointTotals, eventually, slowPostsMigration, usePostsHarness, writeMigration } from '../helpers/fixtures';
import { expectEveryRowOnce, SLOW_SET } from '../helpers/faults';

const ROWS = 3_000;
const ctx = usePostsHarness('fault_twice', ROWS, { worker: false });

test('two ferry start at once and two workers: one migration, every row once', async () => {
  const name = writeMigration(ctx.h, 'twice', slowPostsMigration({ batchSize: 50, pause: '10ms', approval: true, set: SLOW_SET }));
  const workers = [await ctx.h.startWorker(), await ctx.h.startWorker()];
  const starts = await Promise.all([ctx.h.ferry('start', name, '--cool-off', '1s'), ctx.h.ferry('start', name, '--cool-off', '1s')]);
  expect(starts.map((s) => s.code)).toEqual([0, 0]); // the second is a no-op, not an error

  await eventually('backfill under way', async () => (await checkpointTotals(ctx.db.pool, name)).rows > 0);
  expect((await ctx.h.waitForPhase('twice', 'awaiting-approval', 180_000)).phase).toBe('awaiting-approval');
  const approvals = await Promise.all([ctx.h.ferry('approve', name), ctx.h.ferry('approve', name)]);
  expect(approvals.some((a) => a.code === 0)).toBe(true);
  const done = await ctx.h.waitForPhase('twice', 'completed', 120_000);
  for (const w of workers) expect(w.proc.exitCode).toBeNull();

  const history = await ctx.h.ferry('history', name);
  expect(history.stdout.match(/started/g)?.length).toBe(1); // one run in the audit trail

  await expectEveryRowOnce(ctx.db.pool, name, {
    scenario: 'two ferry start at once, two workers',
    faults: 'two `ferry start` of the same migration at the same moment; two workers during the backfill',
    rows: ROWS,
    phase: done.phase,
    recoveryMs: 0, // nothing to recover from; the time is the backfill's
  });
}, 400_000);
