/**
 * The example TypeORM application (examples/typeorm-app) as its team runs it: TypeORM's own CLI
 * (`typeorm migration:run -d src/data-source.ts`) and the app's scripts, each a child process
 * under tsx in the app's directory (its tsconfig turns on decorators), against a test database.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { TestDatabase } from '../helpers/db';

export const ROOT = path.resolve(__dirname, '..', '..');
export const EXAMPLE_APP = path.join(ROOT, 'examples', 'typeorm-app');
const TYPEORM_CLI = path.join(ROOT, 'node_modules', 'typeorm', 'cli.js');
const FERRY = path.join(ROOT, 'bin', 'ferry.js');

/** The outcome of one child process. */
export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** The example app's settings for `db`, as its data source reads them (DB_HOST, DB_PORT, …). */
export function appEnv(db: TestDatabase): NodeJS.ProcessEnv {
  const url = new URL(db.url);
  return {
    DB_HOST: url.hostname,
    DB_PORT: url.port || '5432',
    DB_USER: decodeURIComponent(url.username),
    DB_PASSWORD: decodeURIComponent(url.password) || undefined,
    DB_NAME: db.name,
  };
}

/** The environment of a child: this process's without DATABASE_URL, plus `extra`. */
export function childEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  delete env.DATABASE_URL;
  return env;
}

/** Runs `node [--import tsx] <args>` in `cwd` and collects its output. */
export function runNode(cwd: string, args: string[], env: NodeJS.ProcessEnv, tsx = true): Promise<Run> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [...(tsx ? ['--import', 'tsx'] : []), ...args], { cwd, env });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d) => (stdout += d));
    proc.stderr.on('data', (d) => (stderr += d));
    proc.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** TypeORM's own CLI in the app's directory: `typeorm <args>` (e.g. `migration:run -d src/data-source.ts`). */
export function typeorm(app: string, env: NodeJS.ProcessEnv, ...args: string[]): Promise<Run> {
  return runNode(app, [TYPEORM_CLI, ...args], env);
}

/** The `ferry` command in the app's directory (where a team runs it, beside its tsconfig). */
export function ferryIn(app: string, env: NodeJS.ProcessEnv, ...args: string[]): Promise<Run> {
  return runNode(app, [FERRY, ...args], env, false);
}

/** A long-running child (a worker, the app's writer) whose output is kept. */
export interface Child {
  proc: ChildProcess;
  output(): string;
  /** Waits until the output contains `text`, or throws when the process exits first or after `ms`. */
  waitFor(text: string, ms?: number): Promise<void>;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** Starts `node [--import tsx] <args>` in `cwd`. */
export function startChild(cwd: string, args: string[], env: NodeJS.ProcessEnv, tsx = true): Child {
  const proc = spawn(process.execPath, [...(tsx ? ['--import', 'tsx'] : []), ...args], { cwd, env });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<void>((resolve) => proc.on('exit', () => resolve()));
  return {
    proc,
    output: () => out,
    waitFor: async (text, ms = 60_000) => {
      const deadline = Date.now() + ms;
      while (!out.includes(text)) {
        if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`process exited before "${text}":\n${out}`);
        if (Date.now() > deadline) throw new Error(`no "${text}" within ${ms} ms:\n${out}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    stop: async (signal = 'SIGTERM') => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      await exited;
    },
  };
}

/** `ferry worker` in the app's directory. */
export function startFerryWorker(app: string, env: NodeJS.ProcessEnv): Child {
  return startChild(app, [FERRY, 'worker'], env, false);
}

/**
 * A copy of the example app under .ferry/ (two levels below the repository, like the example, so
 * its tsconfig paths and node_modules resolve the same), for a test that changes its files.
 */
export function copyApp(label: string): { dir: string; remove(): void } {
  const dir = path.join(ROOT, '.ferry', `${label}-${randomBytes(3).toString('hex')}`);
  fs.cpSync(EXAMPLE_APP, dir, { recursive: true });
  return { dir, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}
