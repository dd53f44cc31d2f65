/**
 * Fault: PostgreSQL drops the worker's connections mid-batch (`pg_terminate_backend`, as a
 * failover or an operator would). The worker process must survive: the batch fails, is retried
 * from its checkpoint on a new connection, and the migration completes with every row updated once.
 */
import { checkpointTotals, eventually, slowPostsMigration, usePostsHarness, writeMigration } from '../helpers/fixtures';
import { expectEveryRowOnce, SLOW_SET, terminateWorkerBackends, timeToProgress } from '../helpers/faults';

const ROWS = 4_000;
const TIMES = 3;
const ctx = usePostsHarness('fault_term', ROWS, { worker: false });

test(`the worker's connections terminated ${TIMES} times mid-backfill: the worker lives, every row once`, async () => {
  const name = writeMigration(ctx.h, 'term', slowPostsMigration({ batchSize: 50, pause: '20ms', approval: true, set: SLOW_SET }));
  const worker = await ctx.h.startWorker();
  expect((await ctx.h.ferry('start', name, '--cool-off', '1s')).code).toBe(0);
  const rowsDone = async () => (await checkpointTotals(ctx.db.pool, name)).rows;

  let recoveryMs = 0;
  for (let i = 1; i <= TIMES; i++) {
    await eventually(`backfill past ${i}/${TIMES + 2} of the rows`, async () => (await rowsDone()) >= (ROWS * i) / (TIMES + 2));
    const at = await rowsDone();
    expect(await terminateWorkerBackends(ctx.db.pool)).toBeGreaterThan(0);
    recoveryMs = Math.max(recoveryMs, await timeToProgress(rowsDone, at, { worker }));
    expect(worker.proc.exitCode).toBeNull(); // the worker survived the dropped connections
    expect(worker.proc.signalCode).toBeNull();
  }

  expect((await ctx.h.waitForPhase('term', 'awaiting-approval', 120_000)).phase).toBe('awaiting-approval');
  expect((await ctx.h.ferry('approve', name)).code).toBe(0);
  const done = await ctx.h.waitForPhase('term', 'completed', 120_000);
  expect(worker.proc.exitCode).toBeNull();
  expect(worker.output()).toContain('postgres: connection lost');

  await expectEveryRowOnce(ctx.db.pool, name, {
    scenario: "worker's connections terminated mid-batch",
    faults: `pg_terminate_backend of the worker's connections, ${TIMES} times`,
    rows: ROWS,
    phase: done.phase,
    recoveryMs,
  });
}, 300_000);
