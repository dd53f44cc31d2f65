/**
 * Fault: a transaction holds a lock on the table while expand runs, and again while contract runs.
 * The DDL waits at most its lock_timeout at a time, so the application's statements are not
 * queued behind it for long; expand and contract succeed once the transaction ends.
 */
import type pg from 'pg';
import { checkpointTotals, eventually, slowPostsMigration, usePostsHarness, writeMigration } from '../helpers/fixtures';
import { expectEveryRowOnce, timeToProgress } from '../helpers/faults';
import type { ChildWorker } from '../helpers/harness';

const ROWS = 2_000;
const ctx = usePostsHarness('fault_lock', ROWS, { worker: false });

const lockRetries = (w: ChildWorker) => w.output().split('ddl: lock not available').length - 1;

/**
 * Application reads while the blocker holds its lock and ferry's DDL retries: each must finish
 * within a statement_timeout well above the DDL's lock_timeout (1 s), i.e. no read is queued
 * behind the DDL for longer than one of its attempts.
 */
async function applicationReads(app: pg.Client, times: number): Promise<void> {
  for (let i = 0; i < times; i++) {
    await app.query(`SET statement_timeout = '15s'`);
    await app.query('SELECT count(*) FROM posts');
    await new Promise((r) => setTimeout(r, 300));
  }
}

test('a lock held on the table during expand and during contract: both wait, the application is not stuck, both succeed after', async () => {
  const name = writeMigration(ctx.h, 'lock', slowPostsMigration({ batchSize: 200, pause: '10ms', approval: true }));
  const worker = await ctx.h.startWorker();
  const blocker = await ctx.db.connect();
  const app = await ctx.db.connect();

  await blocker.query('BEGIN; LOCK TABLE posts IN ACCESS SHARE MODE'); // enough to block ALTER TABLE
  expect((await ctx.h.ferry('start', name, '--cool-off', '1s')).code).toBe(0);
  await eventually('expand waiting on the lock', async () => lockRetries(worker) >= 2, 90_000);
  expect((await ctx.h.ferry('status', name, '--json')).stdout).toContain('"phase": "expanding"');
  await applicationReads(app, 5);
  await blocker.query('COMMIT');
  const expandRecoveryMs = await timeToProgress(async () => (await checkpointTotals(ctx.db.pool, name)).rows, 0, { worker });
  expect((await ctx.h.waitForPhase('lock', 'awaiting-approval', 120_000)).phase).toBe('awaiting-approval');

  await blocker.query('BEGIN; LOCK TABLE posts IN ACCESS SHARE MODE');
  const before = lockRetries(worker);
  expect((await ctx.h.ferry('approve', name)).code).toBe(0);
  await eventually('contract waiting on the lock', async () => lockRetries(worker) >= before + 2, 90_000);
  await applicationReads(app, 5);
  expect(await postsColumnsHave(ctx.db.pool, 'member_id')).toBe(true); // nothing dropped while the lock is held
  const released = Date.now();
  await blocker.query('COMMIT');
  const done = await ctx.h.waitForPhase('lock', 'completed', 120_000);
  const contractRecoveryMs = Date.now() - released;
  expect(done.phase).toBe('completed');
  expect(await postsColumnsHave(ctx.db.pool, 'member_id')).toBe(false);

  await expectEveryRowOnce(ctx.db.pool, name, {
    scenario: 'lock held on the table during expand and contract',
    faults: 'a transaction holding ACCESS SHARE on the table while expand runs, then while contract runs',
    rows: ROWS,
    phase: done.phase,
    recoveryMs: Math.max(expandRecoveryMs, contractRecoveryMs),
  });
}, 400_000);

async function postsColumnsHave(pool: pg.Pool, column: string): Promise<boolean> {
  const { rows } = await pool.query(`SELECT 1 FROM information_schema.columns WHERE table_name = 'posts' AND column_name = $1::text`, [
    column,
  ]);
  return rows.length > 0;
}
