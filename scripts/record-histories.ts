/**
 * Records workflow histories for the replay test (test/replay/replay.test.ts): real runs of the
 * migration workflow on the local stack, one scenario each, written to test/fixtures/histories.
 * Run it after a deliberate change of workflow code (behind `patched()`), and keep the old
 * fixtures: they are what running migrations will replay.
 *
 *   npx tsx scripts/record-histories.ts [--suffix v2] [--only app,pause-abort,continue-as-new,deadline,waits-reverify]
 */
import fs from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { startStack } from '../devstack/stack';
import { createTestDatabase, type TestDatabase } from '../test/helpers/db';
import { createHarness, type Harness } from '../test/helpers/harness';
import { checkpointTotals, createCountedPosts, eventually, slowPostsMigration, writeMigration } from '../test/helpers/fixtures';

const OUT = path.join(__dirname, '..', 'test', 'fixtures', 'histories');
const suffix = process.argv.includes('--suffix') ? `-${process.argv[process.argv.indexOf('--suffix') + 1]}` : '';
const EXAMPLE = path.join(__dirname, '..', 'migrations', 'examples', 'posts-member-uuid.ts');

/** Writes every run of `migration/<name>` as `<scenario>[-run<i>].json`. */
async function save(client: Client, name: string, scenario: string): Promise<void> {
  const id = `migration/${name}`;
  const runs: string[] = [];
  for await (const wf of client.workflow.list({ query: `WorkflowId = "${id}"` })) runs.push(wf.runId);
  runs.reverse(); // oldest first
  for (const [i, runId] of runs.entries()) {
    const history = await client.workflow.getHandle(id, runId).fetchHistory();
    const file = path.join(OUT, `${scenario}${runs.length > 1 ? `-run${i + 1}` : ''}${suffix}.json`);
    fs.writeFileSync(file, historyToJSON(history));
    console.log(`recorded ${path.relative(process.cwd(), file)} (${history.events?.length} events)`);
  }
}

async function appLifecycle(h: Harness, client: Client): Promise<void> {
  const name = h.name('posts-member-uuid');
  await h.ferry('start', name, '--cool-off', '1s');
  await h.ferry('deployed', name);
  await h.waitForPhase('posts-member-uuid', 'awaiting-approval');
  await save(client, name, 'awaiting-approval'); // a running workflow's partial history
  await h.ferry('approve', name, '--by', 'recorder');
  await h.waitForPhase('posts-member-uuid', 'completed');
  await save(client, name, 'completed-app-dual-write');
}

async function pauseResumeAbort(h: Harness, db: TestDatabase, client: Client): Promise<void> {
  const name = writeMigration(h, 'pause-abort', slowPostsMigration({ batchSize: 50, pause: '20ms' }));
  await h.ferry('start', name);
  await eventually('batches', async () => (await checkpointTotals(db.pool, name)).batches >= 5);
  await h.ferry('pause', name, '--reason', 'recording');
  await h.ferry('resume', name);
  await eventually('more batches', async () => (await checkpointTotals(db.pool, name)).batches >= 15);
  await h.ferry('abort', name, '--rollback', '--reason', 'recording');
  await h.waitForPhase('pause-abort', 'aborted');
  await save(client, name, 'paused-resumed-aborted');
}

async function continueAsNew(h: Harness, client: Client): Promise<void> {
  const name = writeMigration(h, 'can', slowPostsMigration({ batchSize: 50, pause: '5ms' }));
  await h.ferry('start', name, '--cool-off', '1s');
  await h.waitForPhase('can', 'completed', 180_000);
  await save(client, name, 'continued-as-new');
}

async function deadlineFinalize(h: Harness, db: TestDatabase, client: Client): Promise<void> {
  const name = writeMigration(h, 'deadline', slowPostsMigration({ batchSize: 50, pause: '0ms' }));
  await h.ferry('start', name, '--deadline', '10m', '--cool-off', '1s');
  await eventually('batches', async () => (await checkpointTotals(db.pool, name)).batches >= 3);
  await h.ferry('finalize', name, '--by', 'recorder');
  await h.waitForPhase('deadline', 'completed', 120_000);
  await save(client, name, 'deadline-finalized');
}

/** A migration on posts.title in app mode, re-verified every second, waiting for `after`. */
function watchedSource(after: string): string {
  return `import { defineMigration } from 'ferry';
export default defineMigration({
  table: 'posts',
  expand: { up: 'ALTER TABLE posts ADD COLUMN IF NOT EXISTS title text', down: 'ALTER TABLE posts DROP COLUMN IF EXISTS title' },
  dualWrite: { by: 'app' },
  backfill: { where: 'title IS NULL', set: 'title = body', batchSize: 500 },
  verify: { every: '1s' },
  contract: { up: 'ALTER TABLE posts ALTER COLUMN title SET DEFAULT NULL', approval: false },
  after: [${JSON.stringify(after)}],
});
`;
}

/**
 * 0.3: a migration that waits before expand for its `after` (started first, continued-as-new while
 * it waits), then re-verifies through the cool-off and catches up old-shape rows (drift).
 */
async function waitsReverify(h: Harness, db: TestDatabase, client: Client): Promise<void> {
  const first = writeMigration(h, 'waited-for', slowPostsMigration({ batchSize: 100, pause: '5ms' }));
  const name = writeMigration(h, 'watched', watchedSource(first));
  await h.ferry('start', name, '--cool-off', '8s');
  await h.ferry('deployed', name);
  await new Promise((r) => setTimeout(r, 5000)); // some checks while the other has not started
  await h.ferry('start', first, '--cool-off', '1s');
  await h.waitForPhase('watched', 'cooling-off', 180_000);
  await db.pool.query(`INSERT INTO posts (body) SELECT 'old shape ' || g FROM generate_series(1, 5) g`);
  await eventually('the drift caught up', async () => {
    const s = JSON.parse((await h.ferry('status', name, '--json')).stdout);
    return s.reverify?.drifts >= 1 && s.reverify?.catchingUp === undefined;
  });
  await h.waitForPhase('watched', 'completed', 120_000);
  await save(client, name, 'waits-reverify');
}

const SCENARIOS = ['app', 'pause-abort', 'continue-as-new', 'deadline', 'waits-reverify'];
const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1].split(',') : SCENARIOS;

async function main(): Promise<void> {
  const stack = await startStack();
  process.env.FERRY_TEST_ADMIN_URL = stack.databaseUrl;
  process.env.TEMPORAL_ADDRESS = stack.temporalAddress;
  const connection = await Connection.connect({ address: stack.temporalAddress });
  const client = new Client({ connection, namespace: stack.namespace });
  fs.mkdirSync(OUT, { recursive: true });
  const db = await createTestDatabase('record');
  const h = createHarness(db, { 'posts-member-uuid': EXAMPLE }, { FERRY_HISTORY_LIMIT: '60', FERRY_CHUNK: '500ms', FERRY_WAIT_POLL: '2s' });
  try {
    await createCountedPosts(db.pool, 3000);
    await h.startWorker();
    const reset = () =>
      db.pool.query(
        'ALTER TABLE posts ADD COLUMN IF NOT EXISTS member_id int; ALTER TABLE posts DROP COLUMN IF EXISTS member_uuid; UPDATE posts SET member_id = 1',
      );
    if (only.includes('app')) await appLifecycle(h, client);
    if (only.includes('pause-abort')) await reset().then(() => pauseResumeAbort(h, db, client));
    if (only.includes('continue-as-new')) await reset().then(() => continueAsNew(h, client));
    if (only.includes('deadline')) await reset().then(() => deadlineFinalize(h, db, client));
    if (only.includes('waits-reverify')) await reset().then(() => waitsReverify(h, db, client));
  } finally {
    await h.close();
    await db.drop();
    await connection.close();
    await stack.stop();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
