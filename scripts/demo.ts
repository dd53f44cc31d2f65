/**
 * `npm run demo`: the whole lifecycle of `migrations/examples/posts-member-uuid.ts` on a generated
 * table (1,000,000 posts by default; `npm run demo -- --rows 200000`) on the local stack:
 * expand, a simulated dual-write deploy with the application writing during the backfill, live
 * progress, verify, a short cool-off, an approval, the contract.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Client as PgClient, Pool } from 'pg';
import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';
import { startStack, type Stack } from '../devstack/stack';
import { quoteIdent } from '../src/pg/quote';

const ROOT = path.resolve(__dirname, '..');
const NAME = 'posts-member-uuid';
const TASK_QUEUE = 'ferry-demo';
const rows = Number(process.argv[process.argv.indexOf('--rows') + 1]) || 1_000_000;

const say = (line: string) => console.log(`\n\x1b[1mdemo:\x1b[0m ${line}`);

/** Creates database `ferry_demo` afresh with members and `rows` posts. */
async function makeDatabase(stack: Stack): Promise<string> {
  const admin = new PgClient({ connectionString: stack.databaseUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent('ferry_demo')} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${quoteIdent('ferry_demo')}`);
  await admin.end();
  const url = new URL(stack.databaseUrl);
  url.pathname = '/ferry_demo';
  const db = new PgClient({ connectionString: url.toString() });
  await db.connect();
  await db.query(`
    CREATE TABLE members (id serial PRIMARY KEY, uuid uuid NOT NULL DEFAULT gen_random_uuid(), name text);
    INSERT INTO members (name) SELECT 'member ' || g FROM generate_series(1, 10000) g;
    CREATE TABLE posts (id bigserial PRIMARY KEY, member_id int REFERENCES members, body text, created_at timestamptz DEFAULT now());
    INSERT INTO posts (member_id, body) SELECT 1 + (g % 10000), 'post number ' || g FROM generate_series(1, ${rows}) g;
    ANALYZE members; ANALYZE posts;`);
  await db.end();
  return url.toString();
}

/** Removes the previous demo's workflow, so that the demo starts a new migration each time. */
async function forgetPreviousDemo(stack: Stack): Promise<void> {
  const connection = await Connection.connect({ address: stack.temporalAddress });
  const client = new Client({ connection, namespace: stack.namespace });
  try {
    const d = await client.workflow.getHandle(`migration/${NAME}`).describe();
    if (d.taskQueue !== TASK_QUEUE) throw new Error(`migration/${NAME} exists and is not the demo's; use another Temporal namespace`);
    if (d.status.name === 'RUNNING') await client.workflow.getHandle(`migration/${NAME}`).terminate('demo restarted');
    await connection.workflowService.deleteWorkflowExecution({
      namespace: stack.namespace,
      workflowExecution: { workflowId: `migration/${NAME}` },
    });
    await new Promise((r) => setTimeout(r, 1500)); // deletion is asynchronous
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) throw err;
  } finally {
    await connection.close();
  }
}

/** Runs `ferry ...args` with the demo's environment, showing its output. */
function ferry(env: NodeJS.ProcessEnv, ...args: string[]): Promise<number> {
  console.log(`\x1b[36m$ ferry ${args.join(' ')}\x1b[0m`);
  const proc = spawn(process.execPath, [path.join(ROOT, 'bin/ferry.js'), ...args], { env, stdio: 'inherit' });
  return new Promise((resolve) => proc.on('close', (code) => resolve(code ?? 1)));
}

async function must(code: Promise<number>): Promise<void> {
  if ((await code) !== 0) throw new Error('a ferry command failed; see its message above');
}

/** `ferry worker` in the background, logging to .ferry/demo-worker.log. */
async function startWorker(env: NodeJS.ProcessEnv): Promise<ChildProcess> {
  const log = fs.openSync(path.join(ROOT, '.ferry', 'demo-worker.log'), 'w');
  const proc = spawn(process.execPath, [path.join(ROOT, 'bin/ferry.js'), 'worker'], { env, stdio: ['ignore', log, log] });
  const logFile = path.join(ROOT, '.ferry', 'demo-worker.log');
  for (let i = 0; i < 600 && !fs.readFileSync(logFile, 'utf8').includes('ferry worker:'); i++) {
    if (proc.exitCode !== null) throw new Error(`ferry worker exited:\n${fs.readFileSync(logFile, 'utf8')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return proc;
}

/**
 * The application after the dual-write deploy: writes new posts in both shapes and edits old
 * ones; after `readNewShapeOnly()` (the second deploy) it no longer writes member_id.
 */
function simulateApp(url: string): { readNewShapeOnly(): void; stop(): Promise<number> } {
  const pool = new Pool({ connectionString: url, max: 2 });
  let running = true;
  let bothShapes = true;
  let writes = 0;
  const loop = (async () => {
    while (running) {
      await pool.query(
        bothShapes
          ? `INSERT INTO posts (member_id, member_uuid, body) SELECT id, uuid, 'written by the app' FROM members WHERE id = $1::int`
          : `INSERT INTO posts (member_uuid, body) SELECT uuid, 'written by the app' FROM members WHERE id = $1::int`,
        [1 + (writes % 10000)],
      );
      await pool.query(`UPDATE posts SET body = 'edited by the app' WHERE id = $1::bigint`, [1 + ((writes * 7919) % rows)]);
      writes++;
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  return {
    readNewShapeOnly: () => void (bothShapes = false),
    stop: async () => ((running = false), await loop, await pool.end(), writes),
  };
}

async function waitForPhase(env: NodeJS.ProcessEnv, phase: string): Promise<void> {
  await must(ferry(env, 'status', NAME, '--watch', '--until', phase));
}

async function main(): Promise<void> {
  say('starting the local stack (Temporal dev server + PostgreSQL)');
  const stack = await startStack();
  let worker: ChildProcess | undefined;
  try {
    say(`generating ${rows.toLocaleString('en-US')} posts in database "ferry_demo"`);
    const url = await makeDatabase(stack);
    await forgetPreviousDemo(stack);
    const env = {
      ...process.env,
      DATABASE_URL: url,
      TEMPORAL_ADDRESS: stack.temporalAddress,
      TEMPORAL_NAMESPACE: stack.namespace,
      FERRY_TASK_QUEUE: TASK_QUEUE,
      FERRY_MIGRATIONS: path.join(ROOT, 'migrations', 'examples'),
      FERRY_UI_URL: stack.uiUrl,
      FERRY_CHUNK: '15s',
      FERRY_PROBE_WINDOW: '2s',
      FERRY_USER: 'demo',
    };
    say('starting a worker (its log: .ferry/demo-worker.log)');
    worker = await startWorker(env);
    say('CI starts the migration and waits for expand before deploying the dual-write code');
    await must(ferry(env, 'start', NAME, '--cool-off', '10s', '--wait-for', 'expanded'));
    say('the dual-write code is deployed: the application now writes member_id and member_uuid');
    const app = simulateApp(url);
    await must(ferry(env, 'deployed', NAME, '--reason', 'release 2026.11.21 writes both shapes'));
    say('the backfill runs in checkpointed batches; live progress:');
    await waitForPhase(env, 'awaiting-approval');
    say('verified and cooled off; the code that reads member_uuid only is deployed, and an operator approves the contract');
    app.readNewShapeOnly();
    await must(ferry(env, 'approve', NAME, '--by', 'demo-operator', '--reason', 'reads use member_uuid since release 2026.11.22'));
    await waitForPhase(env, 'completed');
    const writes = await app.stop();
    await must(ferry(env, 'status', NAME));
    await must(ferry(env, 'history', NAME));
    say(`done: ${writes} application writes ran during the migration, and posts.member_id is gone.`);
    say(
      `look at it in the Temporal Web UI: ${stack.uiUrl}/namespaces/${stack.namespace}/workflows/migration%2F${NAME}` +
        (stack.startedTemporal
          ? '\n      (the demo stops the server it started; run "npx ferry dev" to bring it back with this history)'
          : ''),
    );
  } finally {
    worker?.kill('SIGTERM');
    await stack.stop();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`demo failed: ${err instanceof Error ? err.message : err}`);
    process.exit(1);
  },
);
