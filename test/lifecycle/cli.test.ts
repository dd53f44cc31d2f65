/**
 * `ferry` as CI calls it: idempotent start, a conflicting definition exits 3, bad input exits 2
 * and changes nothing, and every error names the object and the next step.
 */
import fs from 'node:fs';
import path from 'node:path';
import { slowPostsMigration, writeMigration, postColumns, usePostsHarness } from '../helpers/fixtures';

const ctx = usePostsHarness('cli', 100, { worker: false });

const columns = () => postColumns(ctx.db.pool);

test('an invalid definition exits 2, names the field, and starts nothing', async () => {
  const bad = slowPostsMigration().replace("where: 'member_uuid IS NULL AND member_id IS NOT NULL',", "where: '',");
  const name = writeMigration(ctx.h, 'invalid', bad);
  const before = await columns();
  const r = await ctx.h.ferry('start', name);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain(`migration "${name}" is invalid`);
  expect(r.stderr).toContain('backfill.where: must not be empty');
  expect(r.stderr).toContain('nothing was changed');
  expect(await columns()).toEqual(before);
  const status = await ctx.h.ferry('status', name);
  expect(status.code).toBe(2);
  // Not "run ferry start first", which would fail the same way: why its definition does not load.
  expect(status.stderr).toContain(`migration "${name}" has not been started, and its definition does not load`);
  expect(status.stderr).toContain('backfill.where: must not be empty');
  fs.rmSync(path.join(ctx.h.dir, `${name}.ts`));
});

test('unknown names, bad flags and bad durations exit 2', async () => {
  const unknown = await ctx.h.ferry('start', 'no-such-migration');
  expect(unknown.code).toBe(2);
  expect(unknown.stderr).toContain('migration "no-such-migration" is not in');
  expect((await ctx.h.ferry('start', 'x', '--frobnicate')).code).toBe(2);
  const name = writeMigration(ctx.h, 'flags', slowPostsMigration());
  const duration = await ctx.h.ferry('start', name, '--cool-off', 'soon');
  expect(duration.code).toBe(2);
  expect(duration.stderr).toContain('--cool-off "soon" is not a duration');
  const waitFor = await ctx.h.ferry('start', name, '--wait-for', 'lunch');
  expect(waitFor.code).toBe(2);
  expect(waitFor.stderr).toContain('--wait-for "lunch" is not a phase');
  expect((await ctx.h.ferry('deployed', 'never-started')).code).toBe(2);
  expect(await columns()).not.toContain('member_uuid');
});

test('start is idempotent; another definition under the same name exits 3', async () => {
  const name = writeMigration(ctx.h, 'idempotent', slowPostsMigration());
  const first = await ctx.h.ferry('start', name, '--json');
  expect(first.code).toBe(0);
  expect(JSON.parse(first.stdout)).toMatchObject({ status: 'started', workflowId: `migration/${name}` });

  const listed = JSON.parse((await ctx.h.ferry('list', '--json')).stdout);
  expect(listed).toEqual(expect.arrayContaining([expect.objectContaining({ name, table: '"public"."posts"', status: 'RUNNING' })]));
  expect((await ctx.h.ferry('list')).stdout).toContain(name);

  const again = await ctx.h.ferry('start', name);
  expect(again.code).toBe(0);
  expect(again.stdout).toContain('is already running');

  writeMigration(ctx.h, 'idempotent', slowPostsMigration({ batchSize: 555 }));
  const conflict = await ctx.h.ferry('start', name);
  expect(conflict.code).toBe(3);
  expect(conflict.stderr).toContain(`migration "${name}" is running with another definition`);
  expect(conflict.stderr).toContain(`ferry abort ${name}`);

  // No worker yet: status still answers from the search attributes, and says what is missing.
  const status = JSON.parse((await ctx.h.ferry('status', name, '--json')).stdout);
  expect(status).toMatchObject({ source: 'search-attributes', phase: 'expanding' });
  expect(status.waitingFor).toContain('ferry worker');

  writeMigration(ctx.h, 'idempotent', slowPostsMigration());
  await ctx.h.startWorker();
  expect((await ctx.h.ferry('abort', name, '--rollback', '--reason', 'test cleanup')).code).toBe(0);
  await ctx.h.waitForPhase('idempotent', 'aborted');
});
