/**
 * One migration file that does not load must not stop a worker: it logs the file and the error,
 * serves the other migrations, and the bad migration's activities keep failing with a message that
 * names the file; `ferry status` says its definition does not load, and why.
 */
import fs from 'node:fs';
import path from 'node:path';
import { workflowId } from '../../src/config';
import { testTemporal, type TestTemporal } from '../helpers/temporal';
import { eventually, slowPostsMigration, usePostsHarness, writeMigration } from '../helpers/fixtures';

const ctx = usePostsHarness('baddef', 2000, { worker: false });
let t: TestTemporal;
beforeAll(async () => (t = await testTemporal()));
afterAll(async () => t?.close());

/** Valid TypeScript whose definition fails validation: no expand, backfill or contract. */
const INVALID = `import { defineMigration } from 'ferry';\nexport default defineMigration({ table: 'posts', expand: { up: 42 } } as never);\n`;

test('a worker skips a file that does not load, runs the others; status says why it does not load', async () => {
  // "bad" is started while its file is valid (no worker yet), then a deploy breaks the file.
  const bad = writeMigration(ctx.h, 'bad', slowPostsMigration().replace(/member_uuid/g, 'other_uuid'));
  expect((await ctx.h.ferry('start', bad)).code).toBe(0);
  const badFile = path.join(ctx.h.dir, `${bad}.ts`);
  fs.writeFileSync(badFile, INVALID);
  const never = writeMigration(ctx.h, 'never', INVALID);
  const good = writeMigration(ctx.h, 'good', slowPostsMigration({ batchSize: 500, pause: '0ms' }));

  const worker = await ctx.h.startWorker();
  await eventually('the worker to list its migrations', async () => /ferry worker: \d+ migrations/.test(worker.output()));
  expect(worker.output()).toContain(`skipping migration "${bad}"`);
  expect(worker.output()).toContain(badFile);
  expect(worker.output()).toContain(`skipping migration "${never}"`);
  expect(worker.proc.exitCode).toBeNull();

  expect((await ctx.h.ferry('start', good, '--cool-off', '1s')).code).toBe(0);
  const done = await ctx.h.waitForPhase('good', 'completed', 120_000);
  expect(done.phase).toBe('completed');

  // The bad migration's activity keeps failing (retried: a fixed file is picked up) with the file named.
  const handle = t.client.workflow.getHandle(workflowId(bad));
  let failure = '';
  await eventually('the activity failure', async () => {
    const pending = (await handle.describe()).raw.pendingActivities ?? [];
    failure = pending[0]?.lastFailure?.message ?? '';
    return failure !== '';
  });
  expect(failure).toContain('does not load');
  expect(failure).toContain(badFile);

  const status = await ctx.h.ferry('status', bad);
  expect(status.code).toBe(0);
  expect(status.stdout).toContain('definition: does not load');
  expect(status.stdout).toContain(badFile);
  const asJson = JSON.parse((await ctx.h.ferry('status', bad, '--json')).stdout);
  expect(asJson.definitionError).toContain(badFile);

  const notStarted = await ctx.h.ferry('status', never);
  expect(notStarted.code).toBe(2);
  expect(notStarted.stderr).toContain('does not load');
  await handle.terminate('test over');
}, 240_000);
