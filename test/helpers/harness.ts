/**
 * Drives migrations the way users do: the `ferry` CLI as a child process, and `ferry worker` as
 * another child process (so a test can SIGKILL it). Each harness has its own migrations
 * directory, with example migrations renamed by a unique suffix so that workflow ids never clash.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { TestDatabase } from './db';

const ROOT = path.resolve(__dirname, '..', '..');
const FERRY = path.join(ROOT, 'bin', 'ferry.js');

/** The outcome of one CLI call. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A `ferry worker` child process. */
export interface ChildWorker {
  proc: ChildProcess;
  output(): string;
  /** Sends `signal` and waits for the process to exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** One test file's migrations, CLI and workers. */
export interface Harness {
  env: NodeJS.ProcessEnv;
  dir: string;
  /** The unique name given to each example: `name('posts-member-uuid')`. */
  name(example: string): string;
  /**
   * Writes one more migration file, `<example>-<suffix>.ts`, with `source` (see `variantSource`),
   * and returns its unique name; `name(example)` gives it too. Call it before `startWorker`: a
   * worker loads the migrations directory once, at start-up.
   */
  addMigration(example: string, source: string): string;
  ferry(...args: string[]): Promise<CliResult>;
  startWorker(extraEnv?: NodeJS.ProcessEnv): Promise<ChildWorker>;
  /** Polls `ferry status --json` until `phase` (or a final phase) is reached. */
  waitForPhase(example: string, phase: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

/** Fast settings for tests: seconds instead of minutes. */
export const FAST_ENV = { FERRY_CHUNK: '2s', FERRY_HEARTBEAT_TIMEOUT: '4s', FERRY_PROBE_WINDOW: '300ms' };

/** Creates a harness whose migrations directory re-exports the given example files. */
export function createHarness(db: TestDatabase, examples: Record<string, string>, extraEnv: NodeJS.ProcessEnv = {}): Harness {
  const suffix = randomBytes(3).toString('hex');
  const dir = path.join(ROOT, '.ferry', 'test-migrations', `${path.basename(db.name)}-${suffix}`);
  fs.mkdirSync(dir, { recursive: true });
  for (const [example, file] of Object.entries(examples)) {
    fs.writeFileSync(path.join(dir, `${example}-${suffix}.ts`), `export { default } from ${JSON.stringify(file.replace(/\.ts$/, ''))};\n`);
  }
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...FAST_ENV,
    DATABASE_URL: db.url,
    FERRY_MIGRATIONS: dir,
    FERRY_TASK_QUEUE: `ferry-test-${suffix}`,
    FERRY_USER: 'jest',
    ...extraEnv,
  };
  const workers: ChildWorker[] = [];
  const name = (example: string) => `${example}-${suffix}`;
  const harness: Harness = {
    env,
    dir,
    name,
    addMigration: (example, source) => {
      fs.writeFileSync(path.join(dir, `${name(example)}.ts`), source);
      return name(example);
    },
    ferry: (...args) => runFerry(args, env),
    startWorker: async (more = {}) => {
      const w = await spawnWorker({ ...env, ...more });
      workers.push(w);
      return w;
    },
    waitForPhase: (example, phase, timeoutMs = 90_000) => waitForPhase(harness, name(example), phase, timeoutMs),
    close: async () => {
      await Promise.all(workers.map((w) => w.stop('SIGKILL')));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return harness;
}

/**
 * The source of a migration file that re-exports the definition in `file` with some `backfill`
 * settings replaced (JSON values only), for `Harness.addMigration`.
 *
 * @example
 * h.addMigration('services-limit', variantSource(EXAMPLE, { maxFailedRows: 3 }));
 */
export function variantSource(file: string, backfill: Record<string, unknown>): string {
  return (
    `import base from ${JSON.stringify(file.replace(/\.ts$/, ''))};\n` +
    `export default { ...base, backfill: { ...base.backfill, ...${JSON.stringify(backfill)} } };\n`
  );
}

/** Runs `node bin/ferry.js ...args`. */
export function runFerry(args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [FERRY, ...args], { env, cwd: ROOT });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d) => (stdout += d));
    proc.stderr.on('data', (d) => (stderr += d));
    proc.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

async function spawnWorker(env: NodeJS.ProcessEnv): Promise<ChildWorker> {
  const proc = spawn(process.execPath, [FERRY, 'worker'], { env, cwd: ROOT });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<void>((resolve) => proc.on('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const timer = setInterval(() => {
      if (out.includes('ferry worker:')) return done(resolve);
      if (proc.exitCode !== null) return done(() => reject(new Error(`ferry worker exited: ${out}`)));
    }, 100);
    const done = (fn: () => void) => (clearInterval(timer), fn());
  });
  return {
    proc,
    output: () => out,
    stop: async (signal = 'SIGTERM') => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      await exited;
    },
  };
}

const FINAL = ['completed', 'aborted', 'failed', 'cancelled'];

async function waitForPhase(h: Harness, name: string, phase: string, timeoutMs: number): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  let last: Record<string, unknown> = {};
  while (Date.now() < deadline) {
    const r = await h.ferry('status', name, '--json');
    if (r.code === 0 || (r.code === 1 && r.stdout.startsWith('{'))) {
      // status of a failed migration prints it and exits 1
      last = JSON.parse(r.stdout);
      if (last.phase === phase || (FINAL.includes(String(last.phase)) && last.source === 'query')) return last;
    }
    await new Promise((res) => setTimeout(res, 500));
  }
  throw new Error(`migration "${name}" did not reach ${phase} within ${timeoutMs} ms; last status: ${JSON.stringify(last)}`);
}
