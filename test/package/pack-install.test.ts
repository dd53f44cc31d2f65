/**
 * The npm package as an application meets it: `npm pack` (prepack builds dist/), then in a fresh
 * directory outside the repository `npm init -y && npm i <tarball>`, `npx ferry init`, and one
 * JavaScript migration (the scaffolded example) and one TypeScript migration run end to end with
 * `npx ferry` from there, against the local stack. No ferry source is reachable from the
 * application: what runs is the tarball's compiled code.
 *
 * Slow: one pack (about 15 s) and one install (about 35 s with a warm npm cache).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { eventually } from '../helpers/fixtures';
import { FAST_ENV, type CliResult } from '../helpers/harness';

const ROOT = path.resolve(__dirname, '..', '..');
const suffix = randomBytes(3).toString('hex');
const ORDERS = `orders-total-cents-${suffix}`;
const POSTS = `posts-member-uuid-${suffix}`;

/** What `npm pack --json` reports of the tarball. */
interface Packed {
  filename: string;
  size: number;
  unpackedSize: number;
  entryCount: number;
  files: { path: string }[];
}

let work: string;
let app: string;
let packed: Packed;
let db: TestDatabase;
let env: NodeJS.ProcessEnv;
let worker: ChildProcess | undefined;

/** A command's environment: nothing of jest's or npm's own (npm_config_*), so the install is an application's. */
function cleanEnv(more: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, npm_config_update_notifier: 'false', ...more };
}

function npm(args: string[], cwd: string): string {
  const r = spawnSync('npm', args, { cwd, env: cleanEnv(), encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`npm ${args.join(' ')} exited ${r.status}:\n${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

/** `npx ferry ...args` in the application directory. */
function ferry(...args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    const proc = spawn('npx', ['ferry', ...args], { cwd: app, env });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d) => (stdout += d));
    proc.stderr.on('data', (d) => (stderr += d));
    proc.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

async function phaseOf(name: string): Promise<string> {
  const r = await ferry('status', name, '--json');
  return r.code === 0 || r.stdout.startsWith('{') ? (JSON.parse(r.stdout).phase as string) : `exit ${r.code}: ${r.stderr}`;
}

beforeAll(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-pack-'));
  const started = Date.now();
  packed = (JSON.parse(npm(['pack', '--json', '--pack-destination', work], ROOT)) as Packed[])[0];
  const packMs = Date.now() - started;
  app = path.join(work, 'app');
  fs.mkdirSync(app);
  npm(['init', '-y'], app);
  npm(['i', path.join(work, packed.filename), '--prefer-offline', '--no-audit', '--no-fund'], app);
  console.log(
    `npm pack: ${packed.filename}, ${(packed.size / 1024).toFixed(0)} KiB packed, ${(packed.unpackedSize / 1024).toFixed(0)} KiB ` +
      `unpacked, ${packed.entryCount} files (${packMs} ms); npm i ${Date.now() - started - packMs} ms`,
  );
  db = await createTestDatabase('pack', { store: false });
  env = cleanEnv({
    ...FAST_ENV,
    DATABASE_URL: db.url,
    TEMPORAL_ADDRESS: process.env.TEMPORAL_ADDRESS,
    TEMPORAL_NAMESPACE: process.env.TEMPORAL_NAMESPACE,
    FERRY_TASK_QUEUE: `ferry-pack-${suffix}`,
    FERRY_USER: 'pack-test',
  });
}, 600_000);

afterAll(async () => {
  if (worker?.pid && worker.exitCode === null) {
    const exited = new Promise((resolve) => worker!.on('exit', resolve));
    process.kill(-worker.pid, 'SIGTERM'); // npx and the worker it runs: the group this test started
    await exited;
  }
  await db?.drop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe('the tarball', () => {
  test('ships dist/ (JavaScript, .d.ts, the schema files, the dev stack), bin, README and package.json; no sources, tests or fixtures', () => {
    const files = packed.files.map((f) => f.path);
    const sqlFiles = fs.readdirSync(path.join(ROOT, 'src', 'store', 'migrations')).filter((f) => f.endsWith('.sql'));
    expect(sqlFiles.length).toBeGreaterThan(0);
    expect(files).toEqual(
      expect.arrayContaining([
        'package.json',
        'README.md',
        'bin/ferry.js',
        'dist/index.js',
        'dist/index.d.ts',
        'dist/cli/main.js',
        'dist/worker.js',
        'dist/workflows/index.js',
        'dist/devstack/stack.js',
        ...sqlFiles.map((f) => `dist/store/migrations/${f}`),
      ]),
    );
    const outside = files.filter((f) => !f.startsWith('dist/') && !['package.json', 'README.md', 'LICENSE', 'bin/ferry.js'].includes(f));
    expect(outside).toEqual([]);
    expect(files.filter((f) => /\.(ts|mts|cts)$/.test(f) && !/\.d\.ts$/.test(f))).toEqual([]);
    expect(files.filter((f) => /(^|\/)(test|tests|fixtures|examples|scripts|migrations\/examples)\//.test(f))).toEqual([]);
  });

  test('installs only runtime dependencies: no dev tool, and typeorm only as an optional peer', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(app, 'node_modules', 'ferry', 'package.json'), 'utf8'));
    expect(pkg.private).toBeUndefined();
    expect(pkg.dependencies.tsx).toBeDefined(); // TypeScript migrations need nothing of the application
    expect(pkg.dependencies.typeorm).toBeUndefined();
    expect(pkg.peerDependenciesMeta.typeorm).toEqual({ optional: true });
    for (const dev of ['typescript', 'jest', 'eslint', 'typeorm', '@temporalio/testing']) {
      expect([dev, fs.existsSync(path.join(app, 'node_modules', dev))]).toEqual([dev, false]);
    }
  });

  test('`ferry` resolves from the application, by require and by import, with its types', () => {
    const script =
      "const cjs = require('ferry'); import('ferry').then((esm) => console.log(typeof cjs.defineMigration, typeof esm.defineMigration, " +
      "require.resolve('ferry'), require('node:fs').existsSync(require.resolve('ferry').replace(/\\.js$/, '.d.ts'))))";
    const r = spawnSync(process.execPath, ['-e', script], { cwd: app, env: cleanEnv(), encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe(`function function ${fs.realpathSync(app)}/node_modules/ferry/dist/index.js true`);
  });
});

describe('npx ferry from the application', () => {
  test('`ferry init` writes a JavaScript example (no tsconfig.json), prints the next steps, and never overwrites', async () => {
    const r = await ferry('init');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Created migrations/orders-total-cents.js: an example migration in JavaScript (CommonJS)');
    for (const step of [
      'DATABASE_URL',
      'TEMPORAL_ADDRESS',
      'temporal.toml',
      'npx ferry setup',
      'npx ferry worker',
      'npx ferry plan',
      'npx ferry start',
    ]) {
      expect(r.stdout).toContain(step);
    }
    const file = path.join(app, 'migrations', 'orders-total-cents.js');
    const written = fs.readFileSync(file, 'utf8');
    expect(written).toContain("require('ferry')");

    const again = await ferry('init', '--ts');
    expect(again.code).toBe(3);
    expect(again.stderr).toContain(`"${file}" already exists; ferry init never overwrites a file`);
    expect(fs.readdirSync(path.join(app, 'migrations'))).toEqual(['orders-total-cents.js']);
    expect(fs.readFileSync(file, 'utf8')).toBe(written);
    // Workflow ids are per name and the Temporal server is shared: the example gets this run's name.
    fs.renameSync(file, path.join(app, 'migrations', `${ORDERS}.js`));
  });

  test('the example (JavaScript) and a TypeScript migration run end to end: setup, worker, start, approve, completed', async () => {
    await db.pool.query(`
      CREATE TABLE orders (id bigserial PRIMARY KEY, total numeric(12, 2));
      INSERT INTO orders (total) SELECT CASE WHEN g % 10 = 0 THEN NULL ELSE g / 7.0 END FROM generate_series(1, 3000) g;
      CREATE TABLE members (id serial PRIMARY KEY, uuid uuid NOT NULL DEFAULT gen_random_uuid());
      INSERT INTO members SELECT FROM generate_series(1, 50);
      CREATE TABLE posts (id bigserial PRIMARY KEY, member_id int REFERENCES members, body text);
      INSERT INTO posts (member_id, body) SELECT 1 + (g % 50), 'post ' || g FROM generate_series(1, 3000) g;
      ANALYZE orders, posts;`);
    fs.writeFileSync(path.join(app, 'migrations', `${POSTS}.ts`), TS_MIGRATION);

    const setup = await ferry('setup');
    expect(setup.stderr).toBe('');
    expect(setup.code).toBe(0);
    worker = spawn('npx', ['ferry', 'worker'], { cwd: app, env, detached: true });
    let out = '';
    worker.stdout!.on('data', (d) => (out += d));
    worker.stderr!.on('data', (d) => (out += d));
    await eventually('the worker to be ready', async () => {
      if (worker!.exitCode !== null) throw new Error(`worker exited: ${out}`);
      return out.includes('ferry worker:');
    });
    expect(out).toContain(`ferry worker: 2 migrations (${[ORDERS, POSTS].sort().join(', ')})`);

    for (const name of [ORDERS, POSTS]) {
      const started = await ferry('start', name, '--cool-off', '1s', '--wait-for', 'expanded');
      expect([name, started.stderr, started.code]).toEqual([name, '', 0]);
    }
    await eventually('the example to await approval', async () => (await phaseOf(ORDERS)) === 'awaiting-approval', 120_000);
    expect((await ferry('approve', ORDERS, '--by', 'alice')).code).toBe(0);
    for (const name of [ORDERS, POSTS]) {
      await eventually(`${name} to complete`, async () => (await phaseOf(name)) === 'completed', 120_000);
    }

    const orders = await db.pool.query(`SELECT count(*)::int AS n, count(total_cents)::int AS filled FROM orders`);
    expect(orders.rows[0]).toEqual({ n: 3000, filled: 2700 });
    const cols = await db.pool.query(
      `SELECT table_name, column_name FROM information_schema.columns WHERE table_name IN ('orders', 'posts') ORDER BY 1, 2`,
    );
    expect(cols.rows.map((r) => `${r.table_name}.${r.column_name}`)).toEqual([
      'orders.id',
      'orders.total_cents',
      'posts.body',
      'posts.id',
      'posts.member_uuid',
    ]);
    const history = JSON.parse((await ferry('history', ORDERS, '--json')).stdout) as { action: string; by: string }[];
    expect(history.map((e) => `${e.action}:${e.by}`)).toEqual(expect.arrayContaining(['started:pack-test', 'approved:alice']));
  }, 400_000);

  test('ES modules (.mjs, .js under "type": "module") and .cjs load too, and a broken file, or one with top-level await, is named in the error', async () => {
    const esm = TS_MIGRATION.replace(': string', '');
    const cjs = esm
      .replace("import { defineMigration } from 'ferry';", "const { defineMigration } = require('ferry');")
      .replace('export default', 'module.exports =');
    fs.mkdirSync(path.join(app, 'migrations', 'esm'));
    fs.writeFileSync(path.join(app, 'migrations', 'esm', 'package.json'), '{ "type": "module" }\n');
    const files = { mjs: `mjs-${suffix}.mjs`, 'esm/js': `esm/js-${suffix}.js`, cjs: `cjs-${suffix}.cjs` };
    for (const [kind, file] of Object.entries(files)) {
      const column = `member_${kind.replace('/', '_')}`;
      fs.writeFileSync(path.join(app, 'migrations', file), (kind === 'cjs' ? cjs : esm).replace(/member_uuid/g, column));
      const plan = await ferry('plan', path.basename(file).replace(/\.\w+$/, ''), '--no-trial');
      expect([kind, plan.stderr, plan.code]).toEqual([kind, '', 0]);
      expect(plan.stdout).toContain(`ADD COLUMN IF NOT EXISTS ${column} uuid`);
    }

    const broken = path.join(app, 'migrations', `broken-${suffix}.ts`);
    fs.writeFileSync(broken, "import { defineMigration } from 'ferry';\nexport default defineMigration({ table: 'posts', expand: ");
    const r = await ferry('plan', `broken-${suffix}`, '--no-trial');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`migration "broken-${suffix}" (${broken}) failed to load`);
    fs.rmSync(broken);

    const awaiting = path.join(app, 'migrations', `awaits-${suffix}.mjs`);
    fs.writeFileSync(awaiting, esm.replace('export default', 'await Promise.resolve();\nexport default'));
    const tla = await ferry('plan', `awaits-${suffix}`, '--no-trial');
    expect(tla.code).toBe(2);
    expect(tla.stderr).toContain(`migration "awaits-${suffix}" (${awaiting}) failed to load`);
    expect(tla.stderr).toContain("A migration file is loaded synchronously: move the top-level await into the definition's functions");
    fs.rmSync(awaiting);
  });
});

describe('ferry dev from the package', () => {
  test('runs the compiled dev stack: reuses the running Temporal and PostgreSQL, and stops on Ctrl-C', async () => {
    const dev = spawn('npx', ['ferry', 'dev'], { cwd: app, env, detached: true });
    let out = '';
    dev.stdout.on('data', (d) => (out += d));
    dev.stderr.on('data', (d) => (out += d));
    const exited = new Promise((resolve) => dev.on('exit', resolve));
    try {
      await eventually('ferry dev to be up', async () => {
        if (dev.exitCode !== null) throw new Error(`ferry dev exited: ${out}`);
        return out.includes('Press Ctrl-C to stop.');
      });
    } finally {
      process.kill(-dev.pid!, 'SIGINT'); // the group this test started: npx and ferry dev
      await exited;
    }
    expect(out).toContain(`Temporal    ${process.env.TEMPORAL_ADDRESS}`);
    expect(out).toContain('(already running; reused and left alone)');
    expect(out).toContain(`export DATABASE_URL=${db.url}`);
  });
});

/** posts.member_id → member_uuid, with a TypeScript annotation that only a TypeScript loader accepts. */
const TS_MIGRATION = `import { defineMigration } from 'ferry';

const table: string = 'posts';

export default defineMigration({
  table,
  expand: {
    up: 'ALTER TABLE posts ADD COLUMN IF NOT EXISTS member_uuid uuid',
    down: 'ALTER TABLE posts DROP COLUMN IF EXISTS member_uuid',
  },
  dualWrite: { by: 'trigger', body: 'NEW.member_uuid := (SELECT m.uuid FROM members m WHERE m.id = NEW.member_id);' },
  backfill: {
    where: 'member_uuid IS NULL AND member_id IS NOT NULL',
    set: 'member_uuid = (SELECT m.uuid FROM members m WHERE m.id = posts.member_id)',
    batchSize: 500,
  },
  contract: { up: 'ALTER TABLE posts DROP COLUMN IF EXISTS member_id', approval: false },
});
`;
