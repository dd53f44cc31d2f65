/**
 * `npm run screenshots`: takes the README's Web UI images (docs/images/web-ui-*.png) in Debian's
 * chromium (installed with apt-get when missing and run as root), driven by puppeteer-core, from
 * a migration run for the purpose on the local stack (the dev server at TEMPORAL_ADDRESS, its Web
 * UI at FERRY_UI_URL or as src/config.ts finds it; PostgreSQL as `ferry dev` and the tests use it).
 *
 * Everything it makes is its own and removed afterwards: a Temporal namespace `ferry-docs-<run>`
 * (so the list shows only this migration), a database `ferry_docs_<run>`, a task queue, a worker.
 *
 * `tsx scripts/screenshots.ts --capture <name> <dir>` takes the images of migration `<name>` into
 * `<dir>` with the environment as it is (TEMPORAL_*, FERRY_*, DATABASE_URL, FERRY_CHROMIUM; a worker
 * running) and prints what each page showed as JSON: test/ui/screenshots.test.ts runs it so.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { Client as PgClient } from 'pg';
import { startStack } from '../devstack/stack';
import { webUiBase } from '../src/config';
import { quoteIdent } from '../src/pg/quote';
import { ensureChromium } from './screenshots/chromium';
import { captureWebUi, postsSql } from './screenshots/scenario';

const ROOT = path.resolve(__dirname, '..');
const RUN = randomBytes(3).toString('hex');
const NAMESPACE = `ferry-docs-${RUN}`;
const DATABASE = `ferry_docs_${RUN}`;
const RUN_DIR = path.join(ROOT, '.ferry', `docs-${RUN}`);
const OUT_DIR = path.join(ROOT, 'docs', 'images');

/** Runs `ferry ...args` with `env`, collecting its output. */
function ferry(env: NodeJS.ProcessEnv, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [path.join(ROOT, 'bin/ferry.js'), ...args], { env, cwd: ROOT });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d) => (stdout += d));
    proc.stderr.on('data', (d) => (stderr += d));
    proc.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

/** `ferry worker` in the background, once it says it is up. */
async function startWorker(env: NodeJS.ProcessEnv): Promise<ChildProcess> {
  const proc = spawn(process.execPath, [path.join(ROOT, 'bin/ferry.js'), 'worker'], { env, cwd: ROOT });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  for (let i = 0; i < 600 && !out.includes('ferry worker:'); i++) {
    if (proc.exitCode !== null) throw new Error(`ferry worker exited:\n${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return proc;
}

/** Creates this run's database with the example's tables; returns its URL. */
async function makeDatabase(adminUrl: string): Promise<string> {
  const admin = new PgClient({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${quoteIdent(DATABASE)}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${DATABASE}`;
  const db = new PgClient({ connectionString: url.toString() });
  await db.connect();
  await db.query(postsSql(50_000));
  await db.end();
  return url.toString();
}

async function dropDatabase(adminUrl: string): Promise<void> {
  const admin = new PgClient({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(DATABASE)} WITH (FORCE)`);
  await admin.end();
}

async function main(): Promise<void> {
  const chromium = ensureChromium((line) => console.error(`screenshots: ${line}`));
  if ('skip' in chromium) throw new Error(chromium.skip);
  const stack = await startStack({ log: (line) => console.error(`screenshots: ${line}`) });
  const connection = await Connection.connect({ address: stack.temporalAddress });
  const client = new Client({ connection });
  await client.workflowService.registerNamespace({ namespace: NAMESPACE, workflowExecutionRetentionPeriod: msToTs('1 day') });
  let worker: ChildProcess | undefined;
  try {
    const migrations = path.join(RUN_DIR, 'migrations');
    fs.mkdirSync(migrations, { recursive: true });
    const example = path.join(ROOT, 'migrations', 'examples', 'posts-member-uuid');
    fs.writeFileSync(path.join(migrations, 'posts-member-uuid.ts'), `export { default } from ${JSON.stringify(example)};\n`);
    const env = {
      ...process.env,
      DATABASE_URL: await makeDatabase(stack.databaseUrl),
      TEMPORAL_ADDRESS: stack.temporalAddress,
      TEMPORAL_NAMESPACE: NAMESPACE,
      FERRY_TASK_QUEUE: `ferry-docs-${RUN}`,
      FERRY_MIGRATIONS: migrations,
      FERRY_CHUNK: '2s',
      FERRY_PROBE_WINDOW: '1s',
      FERRY_USER: 'alice',
    };
    worker = await startWorker(env); // it adds ferry's search attributes to the new namespace
    const uiUrl = webUiBase(stack.temporalAddress) ?? stack.uiUrl;
    fs.mkdirSync(OUT_DIR, { recursive: true });
    const target = { uiUrl, namespace: NAMESPACE, name: 'posts-member-uuid' };
    const shots = await captureWebUi({ target, ferry: (...args) => ferry(env, args), outDir: OUT_DIR, chromium: chromium.path });
    for (const shot of Object.values(shots)) {
      console.log(`${path.relative(ROOT, shot.file)}: ${Math.round(fs.statSync(shot.file).size / 1024)} KB`);
    }
    await ferry(env, ['abort', 'posts-member-uuid', '--reason', 'screenshots taken']);
  } finally {
    worker?.kill('SIGTERM');
    await dropDatabase(stack.databaseUrl).catch((err) => console.error(`screenshots: ${err}`));
    await connection.operatorService.deleteNamespace({ namespace: NAMESPACE }).catch((err) => console.error(`screenshots: ${err}`));
    fs.rmSync(RUN_DIR, { recursive: true, force: true });
    await connection.close();
    await stack.stop();
  }
}

/** `--capture <name> <dir>`: the images of a migration in the environment as it is. */
async function captureHere(name: string, outDir: string): Promise<void> {
  const chromium = ensureChromium((line) => console.error(`screenshots: ${line}`));
  if ('skip' in chromium) throw new Error(chromium.skip);
  const address = process.env.TEMPORAL_ADDRESS ?? 'localhost:7233';
  const uiUrl = webUiBase(address);
  if (!uiUrl) throw new Error(`no Web UI known for TEMPORAL_ADDRESS "${address}"; set FERRY_UI_URL`);
  const target = { uiUrl, namespace: process.env.TEMPORAL_NAMESPACE || 'default', name };
  const shots = await captureWebUi({ target, ferry: (...args) => ferry(process.env, args), outDir, chromium: chromium.path });
  console.log(JSON.stringify(shots));
}

const capture = process.argv.indexOf('--capture');
(capture >= 0 ? captureHere(process.argv[capture + 1], process.argv[capture + 2]) : main()).then(
  () => process.exit(0),
  (err) => {
    console.error(`screenshots failed: ${err instanceof Error ? err.message : err}`);
    process.exit(1);
  },
);
