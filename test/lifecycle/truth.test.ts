/**
 * What CI and operators are told (issue 8, items 9-14): exit codes of a failed or aborted
 * migration, status right after an update, the last known progress without a worker, `--watch`
 * in a CI log, Web UI links, and next steps for names Temporal does not know.
 */
import { runFerry } from '../helpers/harness';
import { checkpointTotals, eventually, resetCountedPosts, slowPostsMigration, usePostsHarness, writeMigration } from '../helpers/fixtures';

const ROWS = 10_000;
const ctx = usePostsHarness('truth', ROWS);

const json = (stdout: string) => JSON.parse(stdout) as Record<string, unknown>;
const statusJson = async (name: string) => json((await ctx.h.ferry('status', name, '--json')).stdout);
const rowOf = (list: string, name: string) => list.split('\n').find((l) => l.startsWith(`${name} `)) ?? '';

test('a failed migration: status exits 1, --watch --until exits 1 and prints its last line, start --wait-for exits 1', async () => {
  const source = slowPostsMigration({ batchSize: 500 }).replace(
    "contract: { up: 'ALTER TABLE posts DROP COLUMN IF EXISTS member_id'",
    "contract: { up: 'ALTER TABLE posts DROP COLUMN no_such_column'",
  );
  const name = writeMigration(ctx.h, 'fails', source);

  const started = await ctx.h.ferry('start', name, '--cool-off', '1s', '--wait-for', 'completed');
  expect(started.stderr).toContain(
    `ferry: migration "${name}" ended failed (FAILED) before reaching completed; see "ferry status ${name}" for the error.`,
  );
  expect(started.code).toBe(1);

  const status = await ctx.h.ferry('status', name);
  expect(status.code).toBe(1);
  expect(status.stdout).toContain('  phase:     failed [FAILED]');
  expect(status.stderr).toContain(`ferry: migration "${name}" failed: contracting: `);

  const watched = await ctx.h.ferry('status', name, '--watch', '--until', 'awaiting-approval');
  expect(watched.code).toBe(1);
  expect(watched.stderr).toContain(`ferry: migration "${name}" ended failed (FAILED) before reaching awaiting-approval`);
  const lines = watched.stdout.trim().split('\n');
  expect(lines[lines.length - 1]).toMatch(new RegExp(`^${name} failed +100\\.0% ${ROWS}/${ROWS} rows 0 rows/s ETA -$`));

  const history = json((await ctx.h.ferry('history', name, '--json')).stdout) as unknown as { action: string; detail?: string }[];
  expect(history).toContainEqual(
    expect.objectContaining({ action: 'expanded', detail: "1 statement of expand.up (+2 for ferry's trigger), 0 lock retries" }),
  );
}, 150_000);

test('approve, resume and abort answer with the state they cause; an aborted migration is neither paused nor moving', async () => {
  await resetCountedPosts(ctx.db.pool, ROWS);
  const name = writeMigration(ctx.h, 'controls', slowPostsMigration({ batchSize: 100, pause: '50ms' }));
  expect((await ctx.h.ferry('start', name, '--wait-for', 'backfilling')).code).toBe(0);
  await eventually('a rate while the backfill runs', async () => Number((await statusJson(name)).rowsPerSecond) > 0);

  const paused = json((await ctx.h.ferry('pause', name, '--by', 'bob', '--json')).stdout);
  expect(paused).toMatchObject({ paused: true, rowsPerSecond: 0, etaSeconds: null });
  await eventually('the hold', async () => String((await statusJson(name)).waitingFor).startsWith(`"ferry resume ${name}"`));
  const pausedText = (await ctx.h.ferry('status', name)).stdout;
  expect(pausedText).toContain('  phase:     backfilling (PAUSED)');
  expect(pausedText).not.toContain('rows/s');
  expect(pausedText).not.toContain('ETA');

  const resumed = await ctx.h.ferry('resume', name, '--by', 'bob');
  expect(resumed.code).toBe(0);
  expect(resumed.stdout).not.toContain('ferry resume');
  expect(resumed.stdout).not.toContain('paused');

  expect((await ctx.h.ferry('pause', name)).code).toBe(0);
  const aborted = await ctx.h.ferry('abort', name, '--rollback', '--by', 'carol', '--reason', 'wrong type', '--json');
  expect(aborted.code).toBe(0);
  const answer = json(aborted.stdout);
  expect(answer).toMatchObject({ waitingFor: 'the abort to take effect (expand.down runs first)', rowsPerSecond: 0, etaSeconds: null });
  expect(Number(answer.rowsDone)).toBeGreaterThan(0);
  const done = await ctx.h.waitForPhase('controls', 'aborted');
  expect(done).toMatchObject({ phase: 'aborted', paused: false, rowsPerSecond: 0, etaSeconds: null });

  const status = await ctx.h.ferry('status', name);
  expect(status.code).toBe(0); // aborted by an operator: not a failure
  expect(status.stdout).toContain('  phase:     aborted [COMPLETED]\n');
  expect(status.stdout).not.toContain('rows/s');
  const listed = (json((await ctx.h.ferry('list', '--json')).stdout) as unknown as { name: string; paused: boolean }[]).find(
    (r) => r.name === name,
  );
  expect(listed).toMatchObject({ paused: false });
  expect(rowOf((await ctx.h.ferry('list')).stdout, name)).not.toContain('yes');

  const watched = await ctx.h.ferry('status', name, '--watch', '--until', 'completed');
  expect(watched.code).toBe(3);
  expect(watched.stderr).toContain(
    `ferry: migration "${name}" ended aborted (COMPLETED) before reaching completed; see "ferry history ${name}"`,
  );
  const again = await ctx.h.ferry('start', name, '--wait-for', 'expanded');
  expect(again.code).toBe(0);
  expect(again.stdout.split('\n')[0]).toMatch(
    new RegExp(`^migration "${name}" was aborted at \\S+ by carol \\(wrong type; rolled back\\); starting a new run\\.$`),
  );
  expect((await ctx.h.ferry('abort', name, '--rollback')).code).toBe(0);
  await ctx.h.waitForPhase('controls', 'aborted');
}, 240_000);

test('approve clears "waiting for approval"; a fixed batch size and a one-statement contract are reported as such', async () => {
  await resetCountedPosts(ctx.db.pool, 2000);
  const source = slowPostsMigration({ batchSize: 500, approval: true }).replace('batchSize: 500,', 'batchSize: 500, minBatchSize: 500,');
  const name = writeMigration(ctx.h, 'approving', source);
  expect((await ctx.h.ferry('start', name, '--cool-off', '1s', '--wait-for', 'awaiting-approval')).code).toBe(0);
  await eventually('the approval wait', async () => String((await statusJson(name)).waitingFor).startsWith('approval'));
  const approved = await ctx.h.ferry('approve', name, '--by', 'alice');
  expect(approved.code).toBe(0);
  expect(approved.stdout).toContain('  approved:  by alice');
  expect(approved.stdout).not.toContain('approval: run');

  await ctx.h.waitForPhase('approving', 'completed');
  const status = await ctx.h.ferry('status', name);
  expect(status.stdout).toContain('  batches:   500 rows each (fixed)\n');
  expect(status.stdout).toContain('  backfill:  2,000 / ~2,000 rows (100.0%), 2,000 changed\n');
  const history = json((await ctx.h.ferry('history', name, '--json')).stdout) as unknown as { action: string; detail?: string }[];
  expect(history).toContainEqual({
    at: expect.any(String),
    action: 'contracted',
    by: 'ferry',
    detail: "1 statement of contract.up (+2 for ferry's trigger)",
  });
}, 150_000);

test('names Temporal does not know: the files in FERRY_MIGRATIONS, or "ferry start" for a file never started', async () => {
  const known = writeMigration(ctx.h, 'never-started', slowPostsMigration());
  for (const verb of ['status', 'history', 'pause', 'deployed']) {
    const r = await ctx.h.ferry(verb, 'nope');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      `ferry: migration "nope" is not known to Temporal (namespace "default") nor a file in "${ctx.h.dir}" (found: `,
    );
    expect(r.stderr).toContain(known);
    expect(r.stderr).not.toContain('ferry start nope');
  }
  const r = await ctx.h.ferry('status', known);
  expect(r.code).toBe(2);
  expect(r.stderr).toBe(`ferry: migration "${known}" has not been started; run "ferry start ${known}" first.\n`);
});

test('Web UI links follow FERRY_UI_URL', async () => {
  await resetCountedPosts(ctx.db.pool, 100);
  const name = ctx.h.name('never-started');
  const env = { ...ctx.h.env, FERRY_UI_URL: 'https://temporal.example.com/' };
  const started = await runFerry(['start', name, '--json'], env);
  expect(started.code).toBe(0);
  expect(json(started.stdout).webUi).toBe(`https://temporal.example.com/namespaces/default/workflows/migration%2F${name}`);
  const status = await runFerry(['status', name], env);
  expect(status.stdout).toContain(`  web UI:    https://temporal.example.com/namespaces/default/workflows/migration%2F${name}`);
  expect((await ctx.h.ferry('abort', name, '--rollback')).code).toBe(0);
  await ctx.h.waitForPhase('never-started', 'aborted');
});

test('no worker polling: status answers at once with the last known progress and its age', async () => {
  await resetCountedPosts(ctx.db.pool, ROWS);
  const queue = `${ctx.h.env.FERRY_TASK_QUEUE}-lonely`;
  const env = { ...ctx.h.env, FERRY_TASK_QUEUE: queue };
  const name = writeMigration(ctx.h, 'lonely', slowPostsMigration({ batchSize: 100, pause: '50ms' }));
  const worker = await ctx.h.startWorker({ FERRY_TASK_QUEUE: queue });
  expect((await runFerry(['start', name, '--wait-for', 'backfilling'], env)).code).toBe(0);
  await eventually('a chunk counted', async () => (await checkpointTotals(ctx.db.pool, name)).batches >= 3);
  expect((await runFerry(['pause', name], env)).code).toBe(0);
  let known = 0;
  await eventually('the counters of the paused backfill', async () => {
    const s = json((await runFerry(['status', name, '--json'], env)).stdout);
    known = Number(s.rowsDone);
    return s.source === 'query' && String(s.waitingFor).startsWith('"ferry resume') && known > 0;
  });
  await worker.stop('SIGKILL');

  const s = json((await runFerry(['status', name, '--json'], env)).stdout);
  expect(s).toMatchObject({
    source: 'search-attributes',
    phase: 'backfilling',
    paused: true,
    rowsDone: known,
    rowsPerSecond: 0,
    etaSeconds: null,
  });
  expect(s.asOf).toMatchObject({ at: expect.any(String), ageSeconds: expect.any(Number) });
  const text = await runFerry(['status', name], env);
  expect({ code: text.code, stderr: text.stderr }).toEqual({ code: 0, stderr: '' });
  expect(text.stdout).toMatch(
    new RegExp(`backfill:  ${known.toLocaleString('en-US')} / ~[\\d,]+ rows \\([\\d.]+%\\), [\\d,]+ changed \\(last known, as of \\S+, `),
  );

  await ctx.h.startWorker({ FERRY_TASK_QUEUE: queue });
  expect((await runFerry(['abort', name, '--rollback'], env)).code).toBe(0);
  await ctx.h.waitForPhase('lonely', 'aborted');
}, 180_000);

test('no worker ever polled the task queue: status says so without waiting for a query', async () => {
  const queue = `${ctx.h.env.FERRY_TASK_QUEUE}-nobody`;
  const env = { ...ctx.h.env, FERRY_TASK_QUEUE: queue };
  const name = writeMigration(ctx.h, 'nobody', slowPostsMigration());
  expect((await runFerry(['start', name], env)).code).toBe(0);
  const s = json((await runFerry(['status', name, '--json'], env)).stdout);
  expect(s).toMatchObject({ source: 'search-attributes', phase: 'expanding', rowsDone: 0 });
  expect(s.waitingFor).toBe(`a worker: none polls task queue "${queue}"; start one with "ferry worker"`);
  await ctx.h.startWorker({ FERRY_TASK_QUEUE: queue });
  expect((await runFerry(['abort', name, '--rollback'], env)).code).toBe(0);
  await ctx.h.waitForPhase('nobody', 'aborted');
}, 120_000);
