/**
 * `npm run demo`: the whole lifecycle of `migrations/examples/posts-member-uuid.ts` on a generated
 * table (1,000,000 posts by default; `npm run demo -- --rows 200000`) on the local stack:
 * expand, a simulated dual-write deploy with the application writing during the backfill, live
 * progress, verify, a short cool-off, an approval, the contract.
 *
 * Safe beside other demos and tests on one machine: each run has names of its own (database
 * `ferry_demo_<run>`, task queue `ferry-demo-<run>`, migration `posts-member-uuid-<run>`, so its
 * workflow id is its own too); it drops and terminates nothing of anyone else's. Ports:
 * `TEMPORAL_ADDRESS` (a local `host:port`: reused when a server answers there, else started there),
 * `FERRY_TEMPORAL_PORT`, `FERRY_UI_PORT` (see the README).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Client as PgClient, Pool } from 'pg';
import { startStack, type Stack } from '../devstack/stack';
import { quoteIdent } from '../src/pg/quote';

const ROOT = path.resolve(__dirname, '..');
const RUN = randomBytes(3).toString('hex');
const NAME = `posts-member-uuid-${RUN}`;
const DATABASE = `ferry_demo_${RUN}`;
const TASK_QUEUE = `ferry-demo-${RUN}`;
const RUN_DIR = path.join(ROOT, '.ferry', `demo-${RUN}`);
const rows = Number(process.argv[process.argv.indexOf('--rows') + 1]) || 1_000_000;

const say = (line: string) => console.log(`\n\x1b[1mdemo:\x1b[0m ${line}`);

/** Creates this run's database with members and `rows` posts. */
async function makeDatabase(stack: Stack): Promise<string> {
  const admin = new PgClient({ connectionString: stack.databaseUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${quoteIdent(DATABASE)}`);
  await admin.end();
  const url = new URL(stack.databaseUrl);
  url.pathname = `/${DATABASE}`;
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

/** This run's migrations directory: the example under this run's name (the file name is the migration's). */
function writeMigration(): string {
  const dir = path.join(RUN_DIR, 'migrations');
  fs.mkdirSync(dir, { recursive: true });
  const example = path.join(ROOT, 'migrations', 'examples', 'posts-member-uuid');
  fs.writeFileSync(path.join(dir, `${NAME}.ts`), `export { default } from ${JSON.stringify(example)};\n`);
  return dir;
}

/** The Temporal port of a local `TEMPORAL_ADDRESS`, which the demo honours. */
function temporalPortFromAddress(address = process.env.TEMPORAL_ADDRESS): number | undefined {
  if (!address) return undefined;
  const m = /^(localhost|127\.0\.0\.1|\[::1\]):(\d+)$/.exec(address.trim());
  if (!m)
    throw new Error(
      `TEMPORAL_ADDRESS is "${address}"; the demo runs its own local stack: give a local host:port (e.g. 127.0.0.1:7233) or unset it.`,
    );
  return Number(m[2]);
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

/** `ferry worker` in the background, logging to .ferry/demo-<run>/worker.log. */
async function startWorker(env: NodeJS.ProcessEnv): Promise<ChildProcess> {
  const logFile = path.join(RUN_DIR, 'worker.log');
  const log = fs.openSync(logFile, 'w');
  const proc = spawn(process.execPath, [path.join(ROOT, 'bin/ferry.js'), 'worker'], { env, stdio: ['ignore', log, log] });
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
  const stack = await startStack({ temporalPort: temporalPortFromAddress() });
  let worker: ChildProcess | undefined;
  try {
    say(`generating ${rows.toLocaleString('en-US')} posts in database "${DATABASE}" (this run's own)`);
    const url = await makeDatabase(stack);
    const env = {
      ...process.env,
      DATABASE_URL: url,
      TEMPORAL_ADDRESS: stack.temporalAddress,
      TEMPORAL_NAMESPACE: stack.namespace,
      FERRY_TASK_QUEUE: TASK_QUEUE,
      FERRY_MIGRATIONS: writeMigration(),
      FERRY_UI_URL: stack.uiUrl,
      FERRY_CHUNK: '15s',
      FERRY_PROBE_WINDOW: '2s',
      FERRY_USER: 'demo',
    };
    say(`starting a worker (its log: ${path.relative(ROOT, path.join(RUN_DIR, 'worker.log'))})`);
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
      `its database "${DATABASE}" is kept for you to look at (drop it with: dropdb ${DATABASE}); ` +
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
