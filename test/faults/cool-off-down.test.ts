/**
 * Fault: no worker for the whole cool-off. When a worker comes back after the cool-off has ended,
 * the migration waits for the approval: the contract never runs on the timer alone.
 */
import { postColumns, slowPostsMigration, usePostsHarness, writeMigration } from '../helpers/fixtures';
import { expectEveryRowOnce } from '../helpers/faults';

const ROWS = 2_000;
const ctx = usePostsHarness('fault_cool', ROWS, { worker: false });

test('the worker down for the whole cool-off: after it returns the migration holds for approval, then contracts', async () => {
  const name = writeMigration(ctx.h, 'cool', slowPostsMigration({ batchSize: 500, pause: '0ms', approval: true }));
  const first = await ctx.h.startWorker();
  expect((await ctx.h.ferry('start', name, '--cool-off', '6s')).code).toBe(0);
  const cooling = await ctx.h.waitForPhase('cool', 'cooling-off', 120_000);
  expect(cooling.phase).toBe('cooling-off');
  await first.stop('SIGKILL');
  const coolOffEnds = Date.parse(String(cooling.coolOffUntil));
  expect(Number.isFinite(coolOffEnds)).toBe(true);
  await new Promise((r) => setTimeout(r, Math.max(0, coolOffEnds - Date.now()) + 3000)); // the cool-off passes with no worker

  const back = Date.now();
  await ctx.h.startWorker();
  const waiting = await ctx.h.waitForPhase('cool', 'awaiting-approval', 120_000);
  const recoveryMs = Date.now() - back;
  expect(waiting.phase).toBe('awaiting-approval');
  await new Promise((r) => setTimeout(r, 3000));
  expect((await ctx.h.waitForPhase('cool', 'awaiting-approval', 10_000)).phase).toBe('awaiting-approval'); // still holding
  expect(await postColumns(ctx.db.pool)).toContain('member_id'); // nothing contracted without the approval

  expect((await ctx.h.ferry('approve', name)).code).toBe(0);
  const done = await ctx.h.waitForPhase('cool', 'completed', 120_000);
  expect(done.phase).toBe('completed');
  expect(await postColumns(ctx.db.pool)).not.toContain('member_id');

  await expectEveryRowOnce(ctx.db.pool, name, {
    scenario: 'worker down for the whole cool-off',
    faults: 'SIGKILL at the start of the cool-off; a new worker only after it ended',
    rows: ROWS,
    phase: done.phase,
    recoveryMs,
  });
}, 400_000);
