/**
 * Bad input refused before anything changes, with one line that names what to fix: durations
 * without a unit (flags, definitions, the worker's environment), a start whose flags a running
 * migration does not take, and a worker that cannot reach Temporal or PostgreSQL.
 */
import fs from 'node:fs';
import path from 'node:path';
import { runFerry } from '../helpers/harness';
import { postColumns, slowPostsMigration, usePostsHarness, writeMigration } from '../helpers/fixtures';

const ctx = usePostsHarness('badinput', 100, { worker: false });

const STACK = /\n\s+at /;

test('a flag duration without a unit exits 2, naming the flag, and starts nothing', async () => {
  const name = writeMigration(ctx.h, 'unitless', slowPostsMigration());
  for (const flag of ['--cool-off', '--deadline']) {
    const r = await ctx.h.ferry('start', name, flag, '5');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${flag} "5" has no unit; write it like "5s" or "5ms"`);
    expect(r.stderr).not.toMatch(STACK);
  }
  expect((await ctx.h.ferry('status', name)).code).toBe(2); // never started
  expect(await postColumns(ctx.db.pool)).not.toContain('member_uuid');
});

test('a definition duration without a unit is refused with the field named', async () => {
  const name = writeMigration(ctx.h, 'pause-number', slowPostsMigration().replace("pause: '20ms'", 'pause: 5'));
  const r = await ctx.h.ferry('start', name);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain("backfill.pause: 5 has no unit; write it like '5s' or '500ms'");
  const plan = await ctx.h.ferry('plan', name);
  expect(plan.code).toBe(2);
  expect(plan.stderr).toContain('backfill.pause');
  expect(await postColumns(ctx.db.pool)).not.toContain('member_uuid');
  fs.rmSync(path.join(ctx.h.dir, `${name}.ts`)); // an invalid file in the directory stops every worker and start
});

test('flags a running migration does not take are reported as not applied', async () => {
  const name = writeMigration(ctx.h, 'running-flags', slowPostsMigration());
  const first = await ctx.h.ferry('start', name, '--cool-off', '1h');
  expect(first.stderr).toBe('');
  expect(first.code).toBe(0);
  const same = await ctx.h.ferry('start', name, '--cool-off', '60m');
  expect(same.code).toBe(0);
  expect(same.stderr).not.toContain('not applied');
  const other = await ctx.h.ferry('start', name, '--cool-off', '10m', '--deadline', '2d');
  expect(other.code).toBe(0);
  expect(other.stdout).toContain('is already running');
  expect(other.stderr).toContain(
    `--cool-off 10m was not applied: migration ${name} is running with cool-off 1h; abort it ("ferry abort ${name}") and start it again to change it`,
  );
  expect(other.stderr).toContain(`--deadline 2d was not applied: migration ${name} is running with no deadline`);
  const json = await ctx.h.ferry('start', name, '--cool-off', '10m', '--json');
  expect(JSON.parse(json.stdout).notApplied).toEqual([expect.stringContaining('--cool-off 10m was not applied')]);
  const bad = await ctx.h.ferry('start', name, '--cool-off', '10');
  expect(bad.code).toBe(2);
  expect(bad.stderr).toContain('--cool-off "10" has no unit');
});

test('a worker refuses an environment duration without a unit', async () => {
  const r = await runFerry(['worker'], { ...ctx.h.env, FERRY_CHUNK: '5' });
  expect(r.code).toBe(2);
  expect(r.stderr.trim()).toBe('ferry: FERRY_CHUNK "5" has no unit; write it like "5s" or "5ms" ("7d", "12h", "30m", "90s", "500ms").');
  const lock = await runFerry(['worker'], { ...ctx.h.env, FERRY_LOCK_TIMEOUT: '250' });
  expect(lock.code).toBe(2);
  expect(lock.stderr).toContain('FERRY_LOCK_TIMEOUT "250" has no unit');
});

test('a worker that cannot reach Temporal says where it looked and what to do, in one line', async () => {
  const r = await runFerry(['worker'], { ...ctx.h.env, TEMPORAL_ADDRESS: '127.0.0.1:1' });
  expect(r.code).toBe(1);
  expect(r.stderr).toContain('the Temporal server at "127.0.0.1:1" (TEMPORAL_ADDRESS) is unreachable');
  expect(r.stderr).toContain('or set TEMPORAL_ADDRESS; for a local stack run "ferry dev"');
  expect(r.stderr).not.toMatch(STACK);
}, 60_000);

test('a worker with a bad role names DATABASE_URL, masks the password, exits 2', async () => {
  const url = new URL(ctx.db.url);
  url.username = 'nosuch_ferry_role';
  url.password = 'sekrit-pw';
  const r = await runFerry(['worker'], { ...ctx.h.env, DATABASE_URL: url.toString() });
  expect(r.code).toBe(2);
  expect(r.stderr).toContain('PostgreSQL at DATABASE_URL=postgres://nosuch_ferry_role:****@');
  expect(r.stderr).toContain('role "nosuch_ferry_role" does not exist');
  expect(r.stderr).toContain('fix DATABASE_URL');
  expect(r.stderr + r.stdout).not.toContain('sekrit-pw');
  expect(r.stderr).not.toMatch(STACK);
});
