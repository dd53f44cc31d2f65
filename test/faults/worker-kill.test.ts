/**
 * Fault: the worker SIGKILLed five times during the backfill and once while the contract's DDL
 * waits on a lock. Each time a new worker takes over: the backfill resumes from its checkpoint
 * (no row updated twice), and the contract, which heartbeats while its statement waits, is
 * retried after the heartbeat timeout instead of its 15-minute start-to-close timeout.
 */
import { checkpointTotals, eventually, slowPostsMigration, usePostsHarness, writeMigration } from '../helpers/fixtures';
import { expectEveryRowOnce, SLOW_SET, timeToProgress } from '../helpers/faults';

const ROWS = 3_000;
const KILLS = 5;
const ctx = usePostsHarness('fault_kill', ROWS, { worker: false });

test(`the worker SIGKILLed ${KILLS} times during the backfill and once during the contract: completes, every row once`, async () => {
  const name = writeMigration(ctx.h, 'kill', slowPostsMigration({ batchSize: 50, pause: '20ms', approval: true, set: SLOW_SET }));
  let worker = await ctx.h.startWorker();
  expect((await ctx.h.ferry('start', name, '--cool-off', '1s')).code).toBe(0);
  const rowsDone = async () => (await checkpointTotals(ctx.db.pool, name)).rows;

  let recoveryMs = 0;
  for (let i = 1; i <= KILLS; i++) {
    await eventually(`backfill past ${i}/${KILLS + 2} of the rows`, async () => (await rowsDone()) >= (ROWS * i) / (KILLS + 2));
    await worker.stop('SIGKILL');
    const at = await rowsDone();
    worker = await ctx.h.startWorker();
    recoveryMs = Math.max(recoveryMs, await timeToProgress(rowsDone, at, { worker }));
  }
  expect((await ctx.h.waitForPhase('kill', 'awaiting-approval', 120_000)).phase).toBe('awaiting-approval');

  // The contract's DDL waits on a lock a transaction holds; the worker dies while it waits.
  const blocker = await ctx.db.connect();
  await blocker.query('BEGIN; LOCK TABLE posts IN ACCESS SHARE MODE');
  expect((await ctx.h.ferry('approve', name)).code).toBe(0);
  await eventually('the contract waiting on the lock', async () => worker.output().includes('ddl: lock not available'), 90_000);
  await worker.stop('SIGKILL');
  const killedAt = Date.now();
  await blocker.query('COMMIT');
  worker = await ctx.h.startWorker();
  const done = await ctx.h.waitForPhase('kill', 'completed', 120_000); // without a heartbeat: 15 minutes
  recoveryMs = Math.max(recoveryMs, Date.now() - killedAt);
  expect(done.phase).toBe('completed');

  await expectEveryRowOnce(ctx.db.pool, name, {
    scenario: 'worker SIGKILLed 5× in the backfill, 1× in the contract',
    faults: `SIGKILL of ferry worker ${KILLS} times mid-backfill, once while the contract's DDL waits on a lock`,
    rows: ROWS,
    phase: done.phase,
    recoveryMs,
  });
}, 600_000);
