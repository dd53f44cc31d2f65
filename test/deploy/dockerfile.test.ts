/**
 * The worker image (Dockerfile), checked without a Docker engine: its structure (stages, user,
 * entrypoint, stop signal, nothing secret), then its build carried out here (test/deploy/dockerfile.ts:
 * the build stage's `npm ci` and `npm run build`, the deps stage's `npm ci --omit=dev`, in a
 * directory outside the repository), then its entrypoint run against the local stack: `--help`,
 * and `worker` draining its in-flight batch on SIGTERM. The runtime stage has no TypeScript source:
 * what runs is dist/.
 *
 * Slow: two installs and a build, about 2 minutes with a warm npm cache, more on a busy machine.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { checkpointTotals, createCountedPosts, eventually, slowPostsMigration, updateCounts } from '../helpers/fixtures';
import { FAST_ENV, type CliResult } from '../helpers/harness';
import { buildHere, execForm, parseDockerfile, type BuiltImage, type Stage } from './dockerfile';

const ROOT = path.resolve(__dirname, '..', '..');
const DOCKERFILE = path.join(ROOT, 'Dockerfile');
const stages = parseDockerfile(fs.readFileSync(DOCKERFILE, 'utf8'));
const last = stages[stages.length - 1];
const instructions = (op: string) => last.instructions.filter((i) => i.op === op);

describe('structure', () => {
  test('multi-stage: a build stage compiles dist/, production dependencies come from `npm ci --omit=dev` in a stage of their own', () => {
    expect(stages.length).toBeGreaterThanOrEqual(3);
    const runs = (s: Stage) => s.instructions.filter((i) => i.op === 'RUN').map((i) => i.args);
    const build = stages.find((s) => runs(s).some((r) => /^npm run build$/.test(r)));
    const deps = stages.find((s) => runs(s).some((r) => /\bnpm ci\b.*--omit=dev/.test(r)));
    expect(build).toBeDefined();
    expect(deps).toBeDefined();
    expect(runs(build!).some((r) => /\bnpm ci\b/.test(r) && !r.includes('--omit'))).toBe(true); // TypeScript is a dev dependency
    expect([build, deps]).not.toContain(last);
    // the final stage takes node_modules from deps, dist from build, and from the context only bin and package.json
    const copies = instructions('COPY');
    expect(copies.some((c) => c.flags.from === deps!.name && c.args.includes('node_modules'))).toBe(true);
    expect(copies.some((c) => c.flags.from === build!.name && /^\/app\/dist\s/.test(c.args))).toBe(true);
    const fromContext = copies.filter((c) => !c.flags.from).flatMap((c) => c.args.split(/\s+/).slice(0, -1));
    expect(fromContext.sort()).toEqual(['bin', 'package.json']);
  });

  test('runs as a non-root user', () => {
    const users = instructions('USER');
    expect(users.length).toBeGreaterThan(0);
    expect(['root', '0', '0:0']).not.toContain(users[users.length - 1].args.trim());
  });

  test('tini is PID 1 and execs `node bin/ferry.js worker`; SIGTERM is the stop signal', () => {
    const entrypoint = execForm(instructions('ENTRYPOINT').at(-1)!.args);
    const cmd = execForm(instructions('CMD').at(-1)!.args);
    expect(entrypoint).toEqual(['/usr/bin/tini', '--', 'node', '/app/bin/ferry.js']);
    expect(cmd).toEqual(['worker']);
    expect(instructions('STOPSIGNAL').at(-1)?.args).toBe('SIGTERM');
    const apt = instructions('RUN').filter((i) => /apt-get install/.test(i.args));
    expect(apt.map((i) => i.args)).toEqual([expect.stringMatching(/--no-install-recommends tini && rm -rf \/var\/lib\/apt\/lists/)]);
  });

  test('no secret is baked in: no ENV or ARG carries a URL with credentials, a password, a key or a token', () => {
    const all = stages.flatMap((s) => s.instructions).filter((i) => i.op === 'ENV' || i.op === 'ARG');
    for (const { args } of all) {
      expect(args).not.toMatch(/DATABASE_URL|PASSWORD|PGPASS|API_KEY|TOKEN|SECRET|TLS_KEY|CLIENT_KEY/i);
      expect(args).not.toMatch(/:\/\/[^/\s]*@/);
    }
  });

  test('.dockerignore keeps node_modules, .git and local env files out of the build context', () => {
    const ignored = fs.readFileSync(path.join(ROOT, '.dockerignore'), 'utf8').split('\n');
    expect(ignored).toEqual(expect.arrayContaining(['.git', 'node_modules', '.env', '.env.*']));
  });
});

describe('built here and run', () => {
  let out: string;
  let image: BuiltImage;
  let db: TestDatabase;
  const taskQueue = `ferry-image-${process.pid}`;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    out = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-image-'));
    image = buildHere(DOCKERFILE, ROOT, out);
    console.log(`image built here in ${out}: ${image.ran.map((r) => `${r.command} (${r.ms} ms)`).join('; ')}`);
    db = await createTestDatabase('image');
    await createCountedPosts(db.pool, 20_000);
    env = {
      ...Object.fromEntries(Object.entries(image.env).map(([k, v]) => [k, fs.existsSync(image.hostPath(v)) ? image.hostPath(v) : v])),
      ...FAST_ENV,
      PATH: process.env.PATH,
      HOME: os.tmpdir(),
      DATABASE_URL: db.url,
      TEMPORAL_ADDRESS: process.env.TEMPORAL_ADDRESS,
      TEMPORAL_NAMESPACE: process.env.TEMPORAL_NAMESPACE,
      FERRY_TASK_QUEUE: taskQueue,
      FERRY_USER: 'image-test',
    };
  }, 900_000);

  afterAll(async () => {
    await db?.drop();
    if (out) fs.rmSync(out, { recursive: true, force: true });
  });

  /** The image's ENTRYPOINT + `args`, as `docker run image ...args` would exec it after tini. */
  function command(args: string[]): { file: string; argv: string[]; cwd: string } {
    const [init, sep, ...rest] = image.entrypoint;
    expect([init, sep]).toEqual(['/usr/bin/tini', '--']); // tini forwards signals to this command
    const [node, script] = rest;
    expect(node).toBe('node');
    return { file: process.execPath, argv: [image.hostPath(script), ...args], cwd: image.hostPath(image.workdir) };
  }

  function run(args: string[]): Promise<CliResult> {
    const c = command(args);
    return new Promise((resolve) => {
      const proc = spawn(c.file, c.argv, { cwd: c.cwd, env });
      let stdout = '';
      let stderr = '';
      proc.stdout.on('data', (d) => (stdout += d));
      proc.stderr.on('data', (d) => (stderr += d));
      proc.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    });
  }

  async function startWorker(): Promise<{ proc: ChildProcess; output: () => string; exited: Promise<number | null> }> {
    const c = command(image.cmd);
    const proc = spawn(c.file, c.argv, { cwd: c.cwd, env });
    let output = '';
    proc.stdout!.on('data', (d) => (output += d));
    proc.stderr!.on('data', (d) => (output += d));
    const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
    await eventually(
      'the worker to be ready',
      async () => {
        if (proc.exitCode !== null) throw new Error(`worker exited: ${output}`);
        return output.includes('ferry worker:');
      },
      180_000,
    );
    return { proc, output: () => output, exited };
  }

  test('only production dependencies are installed (none the lockfile marks dev-only), and every dependency, tsx among them', () => {
    const app = image.hostPath(image.workdir);
    const pkg = JSON.parse(fs.readFileSync(path.join(app, 'package.json'), 'utf8'));
    const lock = JSON.parse(fs.readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { dev?: boolean }>;
    };
    const devOnly = Object.entries(lock.packages).filter(([key, p]) => key && p.dev);
    expect(devOnly.map(([key]) => key)).toEqual(expect.arrayContaining(['node_modules/jest', 'node_modules/typescript']));
    expect(devOnly.filter(([key]) => fs.existsSync(path.join(app, key))).map(([key]) => key)).toEqual([]);
    expect(pkg.dependencies.tsx).toBeDefined();
    for (const dep of Object.keys(pkg.dependencies)) {
      expect(fs.existsSync(path.join(app, 'node_modules', dep, 'package.json'))).toBe(true);
    }
  });

  test('the runtime has dist/ (with the schema files) and no TypeScript source', () => {
    const app = image.hostPath(image.workdir);
    expect(fs.readdirSync(app).sort()).toEqual(['bin', 'dist', 'migrations', 'node_modules', 'package.json']);
    expect(fs.readdirSync(path.join(app, 'dist', 'store', 'migrations')).sort()).toEqual(
      fs
        .readdirSync(path.join(ROOT, 'src', 'store', 'migrations'))
        .filter((f) => f.endsWith('.sql'))
        .sort(),
    );
    const sources = (fs.readdirSync(path.join(app, 'dist'), { recursive: true }) as string[]).filter(
      (f) => /\.(ts|mts|cts)$/.test(f) && !/\.d\.ts$/.test(f),
    );
    expect(sources).toEqual([]);
  });

  test('`ferry --help` from the entrypoint', async () => {
    const r = await run(['--help']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^\s+worker\s/m);
  }, 120_000);

  test('`ferry worker` (the default command) runs a migration from /app/migrations and drains its batch on SIGTERM', async () => {
    const migrations = env.FERRY_MIGRATIONS!;
    expect(migrations).toBe(image.hostPath('/app/migrations'));
    const name = `image-posts-${process.pid}`;
    fs.writeFileSync(path.join(migrations, `${name}.ts`), slowPostsMigration({ batchSize: 100, pause: '30ms' }));

    const first = await startWorker();
    const started = await run(['start', name, '--cool-off', '1s']);
    expect(started.stderr).toBe('');
    expect(started.code).toBe(0);
    await eventually('a fifth of the backfill', async () => (await checkpointTotals(db.pool, name)).rows >= 4000, 120_000);

    first.proc.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    const atStop = await checkpointTotals(db.pool, name);
    expect(atStop.rows).toBeLessThan(20_000);
    const counted = await db.pool.query('SELECT COALESCE(sum(n), 0)::int AS n FROM post_updates');
    expect(counted.rows[0].n).toBe(atStop.rows); // the in-flight batch committed with its checkpoint, no other

    const second = await startWorker();
    try {
      await eventually(
        'completed',
        async () => {
          const r = await run(['status', name, '--json']);
          return r.code === 0 && JSON.parse(r.stdout).phase === 'completed';
        },
        180_000,
      );
      expect(await updateCounts(db.pool)).toEqual({ '1': 20_000 });
    } finally {
      second.proc.kill('SIGTERM');
      await second.exited;
    }
  }, 600_000);
});
