/**
 * Every next step ferry prints after something went wrong works, through the CLI and a real
 * worker: a failed migration is rolled back by `ferry abort --rollback` and starts clean; a
 * migration cancelled from Temporal ends `cancelled` and `ferry start` resumes its checkpoints;
 * a terminated one is rolled back the same way.
 */
import { workflowId } from '../../src/config';
import { testTemporal, type TestTemporal } from '../helpers/temporal';
import {
  checkpointTotals,
  eventually,
  postColumns,
  resetCountedPosts,
  slowPostsMigration,
  updateCounts,
  usePostsHarness,
  writeMigration,
} from '../helpers/fixtures';

const ROWS = 6000;
const ctx = usePostsHarness('recovery', ROWS);
let t: TestTemporal;
beforeAll(async () => (t = await testTemporal()));
afterAll(async () => t?.close());

const columns = () => postColumns(ctx.db.pool);
const triggers = async () =>
  (await ctx.db.pool.query(`SELECT tgname FROM pg_trigger WHERE tgrelid = 'posts'::regclass AND NOT tgisinternal ORDER BY 1`)).rows.map(
    (r) => r.tgname as string,
  );
const runIds = async (name: string) =>
  (await ctx.db.pool.query('SELECT DISTINCT run_id FROM ferry.backfill_checkpoints WHERE migration = $1::text', [name])).rows.map(
    (r) => r.run_id as string,
  );
const json = async (...args: string[]) => {
  const r = await ctx.h.ferry(...args, '--json');
  expect([args, r.code, r.stderr]).toEqual([args, 0, '']);
  return JSON.parse(r.stdout);
};

/** A row the backfill cannot convert (post 2500's body is not a uuid): with maxFailedRows 0 the migration fails after expand. */
function failingMigration(): string {
  const set =
    'member_uuid = CASE WHEN posts.id = 2500 THEN posts.body::uuid ELSE (SELECT m.uuid FROM members m WHERE m.id = posts.member_id) END';
  return slowPostsMigration({ batchSize: 100, pause: '10ms', set }).replace("pause: '10ms',", "pause: '10ms',\n    maxFailedRows: 0,");
}

test('a failed migration: abort --rollback removes what expand added, records who, and start begins clean', async () => {
  const before = { columns: await columns(), triggers: await triggers() };
  const source = failingMigration();
  expect(source).toContain('maxFailedRows: 0');
  const name = writeMigration(ctx.h, 'failing', source);
  expect((await ctx.h.ferry('start', name, '--cool-off', '1s')).code).toBe(0);
  const failed = await ctx.h.waitForPhase('failing', 'failed', 90_000);
  expect(failed.phase).toBe('failed');
  expect(await columns()).toContain('member_uuid');
  expect((await triggers()).length).toBeGreaterThan(before.triggers.length); // ferry's dual-write trigger

  const plain = await ctx.h.ferry('abort', name);
  expect(plain.code).toBe(3);
  expect(plain.stderr).toContain('already over');
  expect(plain.stderr).toContain(`ferry abort ${name} --rollback`);

  const rolled = await ctx.h.ferry('abort', name, '--rollback', '--by', 'dave', '--reason', 'bad row');
  expect([rolled.code, rolled.stderr]).toEqual([0, '']);
  expect(await columns()).toEqual(before.columns);
  expect(await triggers()).toEqual(before.triggers);

  expect(await json('status', name)).toMatchObject({ phase: 'aborted', abort: { by: 'dave', reason: 'bad row', rollback: true } });
  const listed = (await json('list')).find((m: { name: string }) => m.name === name);
  expect(listed).toMatchObject({ phase: 'aborted' });
  const history = await json('history', name);
  expect(history).toEqual(
    expect.arrayContaining([
      expect.objectContaining({ action: 'failed' }),
      expect.objectContaining({ action: 'rollback requested', by: 'dave', detail: expect.stringContaining('bad row') }),
      expect.objectContaining({ action: 'aborted (rollback)', by: 'dave' }),
    ]),
  );
  expect((await ctx.h.ferry('abort', name, '--rollback')).code).toBe(3); // already rolled back

  // The fixed definition starts clean (nothing resumed) and completes.
  writeMigration(ctx.h, 'failing', slowPostsMigration({ batchSize: 500, pause: '0ms' }));
  const started = await ctx.h.ferry('start', name, '--cool-off', '1s');
  expect(started.code).toBe(0);
  expect(started.stdout).not.toContain('resuming');
  const done = await ctx.h.waitForPhase('failing', 'completed', 120_000);
  expect(done.phase).toBe('completed');
  const missing = await ctx.db.pool.query('SELECT count(*)::int AS n FROM posts WHERE member_uuid IS NULL');
  expect(missing.rows[0].n).toBe(0);
}, 300_000);

test('cancelled from Temporal mid-backfill: ends cancelled, then start resumes from the checkpoints', async () => {
  await resetCountedPosts(ctx.db.pool, ROWS);
  const name = writeMigration(ctx.h, 'cancelling', slowPostsMigration({ batchSize: 100, pause: '50ms' }));
  expect((await ctx.h.ferry('start', name, '--cool-off', '1s')).code).toBe(0);
  await eventually('some batches', async () => (await checkpointTotals(ctx.db.pool, name)).batches >= 5);

  await t.client.workflow.getHandle(workflowId(name)).cancel();
  const cancelled = await ctx.h.waitForPhase('cancelling', 'cancelled', 90_000);
  expect(cancelled).toMatchObject({ phase: 'cancelled', paused: false, cancelled: { by: 'Temporal' } });
  const atCancel = await checkpointTotals(ctx.db.pool, name);
  expect(atCancel.rows).toBeLessThan(ROWS);
  await new Promise((r) => setTimeout(r, 2000));
  expect(await checkpointTotals(ctx.db.pool, name)).toEqual(atCancel); // stopped: nothing runs after the run ended
  const text = await ctx.h.ferry('status', name);
  expect(text.stdout).toContain('cancelled');
  expect(text.stdout).not.toContain('PAUSED');
  expect(text.stdout).toContain(`ferry start ${name}`);
  expect((await ctx.h.ferry('resume', name)).code).toBe(3);
  const firstRun = await runIds(name);
  expect(firstRun).toHaveLength(1);
  const history = await json('history', name);
  expect(history.at(-1)).toMatchObject({ action: 'cancelled', by: 'Temporal' });

  const started = await ctx.h.ferry('start', name, '--cool-off', '1s');
  expect(started.code).toBe(0);
  expect(started.stdout).toContain('resuming');
  const done = await ctx.h.waitForPhase('cancelling', 'completed', 120_000);
  expect(done.phase).toBe('completed');
  // The new run continued the old run's checkpoints: the same run id, each row scanned once.
  expect(await runIds(name)).toEqual(firstRun);
  const totals = await checkpointTotals(ctx.db.pool, name);
  expect(totals.rows).toBe(ROWS);
  expect(totals.batches).toBeGreaterThan(atCancel.batches);
  expect(await updateCounts(ctx.db.pool)).toEqual({ '1': ROWS });
}, 300_000);

test('terminated mid-backfill: status says so, abort --rollback cleans up, start begins clean', async () => {
  await resetCountedPosts(ctx.db.pool, ROWS);
  const before = { columns: await columns(), triggers: await triggers() };
  const name = writeMigration(ctx.h, 'terminating', slowPostsMigration({ batchSize: 100, pause: '50ms' }));
  expect((await ctx.h.ferry('start', name, '--cool-off', '1s')).code).toBe(0);
  await eventually('some batches', async () => (await checkpointTotals(ctx.db.pool, name)).batches >= 3);
  const handle = t.client.workflow.getHandle(workflowId(name));
  await handle.terminate('jest: terminate');
  await eventually('terminated', async () => (await handle.describe()).status.name === 'TERMINATED');

  const status = await ctx.h.ferry('status', name);
  expect(status.stdout).toContain('TERMINATED');
  expect(status.stdout).toContain(`ferry abort ${name} --rollback`);
  expect(await columns()).toContain('member_uuid');

  const rolled = await ctx.h.ferry('abort', name, '--rollback', '--by', 'erin');
  expect([rolled.code, rolled.stderr]).toEqual([0, '']);
  expect(await columns()).toEqual(before.columns);
  expect(await triggers()).toEqual(before.triggers);
  expect(await json('history', name)).toEqual(
    expect.arrayContaining([expect.objectContaining({ action: 'aborted (rollback)', by: 'erin' })]),
  );

  const started = await ctx.h.ferry('start', name, '--wait-for', 'expanded');
  expect(started.code).toBe(0);
  expect(started.stdout).not.toContain('resuming');
  expect((await ctx.h.ferry('abort', name, '--rollback')).code).toBe(0); // a running migration: the abort update
  await ctx.h.waitForPhase('terminating', 'aborted', 60_000);
  expect(await columns()).toEqual(before.columns);
}, 300_000);
