/**
 * Finds the Temporal CLI (which contains the dev server), building it from source with Go as a
 * last resort so `npm test` and `ferry dev` work on a machine that only has Node and Go.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import ms from 'ms';
import { acquireLock } from './process';

/** The CLI release ferry builds when none is installed. */
export const TEMPORAL_CLI_VERSION = '1.5.1';
const CLI_MODULE = `github.com/temporalio/cli/cmd/temporal@v${TEMPORAL_CLI_VERSION}`;
const EXE = process.platform === 'win32' ? '.exe' : '';
const PROGRESS_EVERY_MS = 15_000;
const LOCK_WAIT_MS = 30 * 60_000;

type Log = (line: string) => void;
const defaultLog: Log = (line) => console.error(`ferry: ${line}`);

/** True if `file` is an executable regular file. */
function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** The first executable called `name` on $PATH, or undefined. */
function findOnPath(name: string): string | undefined {
  const dirs = (process.env.PATH ?? '').split(path.delimiter).filter(Boolean);
  return dirs.map((dir) => path.join(dir, name + EXE)).find(isExecutable);
}

/** Where ferry caches its own build: `<$XDG_CACHE_HOME or ~/.cache>/ferry/temporal-cli-<version>/temporal`. */
export function cachedTemporalCliPath(): string {
  const cacheRoot = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(cacheRoot, 'ferry', `temporal-cli-${TEMPORAL_CLI_VERSION}`, 'temporal' + EXE);
}

/** The error for a machine with neither a Temporal CLI nor Go. */
function notInstalledError(cached: string): Error {
  return new Error(
    `Temporal CLI not found: "temporal" is not on PATH, there is no cached build at "${cached}", and Go ` +
      `is not installed to build one. Install the Temporal CLI (macOS: \`brew install temporal\`; ` +
      `Linux/Windows: download it from https://temporal.io/setup/install-temporal-cli), ` +
      `or set TEMPORAL_CLI to the path of a temporal binary.`,
  );
}

/**
 * Returns the path of a Temporal CLI binary, in this order: `$TEMPORAL_CLI` (which must exist),
 * `temporal` on PATH, ferry's cached build, or a fresh build with `go install` into the cache.
 * The first build takes several minutes; progress goes to `opts.log`.
 *
 * @throws if `$TEMPORAL_CLI` points nowhere, or there is neither a CLI nor Go to build one.
 * @example
 * const cli = await findTemporalCli({ log: console.log });
 * execFileSync(cli, ['--version']);
 */
export async function findTemporalCli(opts: { log?: Log } = {}): Promise<string> {
  const fromEnv = process.env.TEMPORAL_CLI;
  if (fromEnv) {
    if (isExecutable(fromEnv)) return fromEnv;
    throw new Error(
      `TEMPORAL_CLI is set to "${fromEnv}", which is not an executable file. ` +
        `Point it at a temporal binary, or unset it to use "temporal" from PATH.`,
    );
  }
  const cached = cachedTemporalCliPath();
  const found = findOnPath('temporal') ?? (isExecutable(cached) ? cached : undefined);
  return found ?? buildTemporalCli(cached, opts.log ?? defaultLog);
}

/** Go from PATH, or from its default install location. */
function findGo(): string | undefined {
  const fallback = path.join('/usr/local/go/bin', 'go' + EXE);
  return findOnPath('go') ?? (isExecutable(fallback) ? fallback : undefined);
}

/** Builds the CLI into `target` under a lock; returns `target`. Another process's finished build is reused. */
async function buildTemporalCli(target: string, log: Log): Promise<string> {
  const go = findGo();
  if (!go) throw notInstalledError(target);
  const dir = path.dirname(target);
  fs.mkdirSync(dir, { recursive: true });
  const release = await acquireLock(path.join(dir, '.build.lock'), LOCK_WAIT_MS, (holder) =>
    log(`waiting for another process (pid ${holder}) that is building the Temporal CLI...`),
  );
  try {
    if (isExecutable(target)) return target;
    removeLeftoverBuilds(dir);
    const tmpBin = fs.mkdtempSync(path.join(dir, '.build-'));
    try {
      await runGoInstall(go, tmpBin, log);
      fs.renameSync(path.join(tmpBin, 'temporal' + EXE), target);
    } finally {
      fs.rmSync(tmpBin, { recursive: true, force: true });
    }
    log(`Temporal CLI built: ${target}`);
    return target;
  } finally {
    release();
  }
}

/** Removes temp dirs of builds that were killed (only called while holding the lock). */
function removeLeftoverBuilds(dir: string): void {
  for (const entry of fs.readdirSync(dir)) {
    if (entry.startsWith('.build-')) fs.rmSync(path.join(dir, entry), { recursive: true, force: true });
  }
}

/** Runs `go install` with GOBIN=tmpBin, streaming go's stderr and a progress line every 15 s. */
async function runGoInstall(go: string, tmpBin: string, log: Log): Promise<void> {
  log(`building the Temporal CLI v${TEMPORAL_CLI_VERSION} with Go (${go}); the first build takes several minutes...`);
  const started = Date.now();
  const child = spawn(go, ['install', CLI_MODULE], {
    env: { ...process.env, GOBIN: tmpBin },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const tail: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => {
      tail.push(line);
      if (tail.length > 20) tail.shift();
      log(`  ${line}`);
    });
  }
  const ticker = setInterval(
    () => log(`still building the Temporal CLI (${ms(Date.now() - started, { long: true })} elapsed)...`),
    PROGRESS_EVERY_MS,
  );
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', resolve);
    });
    if (code !== 0) {
      throw new Error(
        `"go install ${CLI_MODULE}" failed (exit ${code}):\n${tail.join('\n')}\n` +
          `Fix the Go error above, or install the Temporal CLI yourself and set TEMPORAL_CLI.`,
      );
    }
  } finally {
    clearInterval(ticker);
  }
}
