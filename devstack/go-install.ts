/**
 * Builds Go programs from the module proxy with `go install` into ferry's cache directory
 * (`<$XDG_CACHE_HOME or ~/.cache>/ferry/<name>/`), once per machine: a lock file makes parallel
 * callers wait for one build, and a build goes to a temp dir first, so a killed build leaves nothing
 * half-written behind. Used for the Temporal CLI and for the Temporal server and its SQL tool.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import ms from 'ms';
import { acquireLock, EXE, findOnPath, isExecutable } from './process';

const PROGRESS_EVERY_MS = 15_000;
const LOCK_WAIT_MS = 30 * 60_000;

export type Log = (line: string) => void;
export const defaultLog: Log = (line) => console.error(`ferry: ${line}`);

/** Go from PATH, or from its default install location. */
export function findGo(): string | undefined {
  const fallback = path.join('/usr/local/go/bin', 'go' + EXE);
  return findOnPath('go') ?? (isExecutable(fallback) ? fallback : undefined);
}

/** ferry's cache directory for one build: `<$XDG_CACHE_HOME or ~/.cache>/ferry/<name>`. */
export function ferryCacheDir(name: string): string {
  const cacheRoot = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(cacheRoot, 'ferry', name);
}

/** One `go install` of one or more packages into a cache directory. */
export interface GoBuild {
  /** What is built, for progress lines: `the Temporal CLI v1.5.1`. */
  what: string;
  /** Module package paths with their version: `github.com/temporalio/cli/cmd/temporal@v1.5.1`. */
  packages: string[];
  /** The directory the binaries end up in (GOBIN of the build). */
  dir: string;
  /** The binaries the packages produce (the last element of each package path, without `.exe`). */
  binaries: string[];
  /** What to do instead when the build fails, for its error: `install it yourself and set TEMPORAL_CLI`. */
  otherwise: string;
}

/** Paths of the build's binaries in its directory. */
export function builtPaths(build: GoBuild): string[] {
  return build.binaries.map((bin) => path.join(build.dir, bin + EXE));
}

/**
 * Runs `go install` for `build` unless all its binaries are already in `build.dir`, under a lock
 * (a build another process finishes meanwhile is reused); returns the binaries' paths. The first
 * build takes minutes: go's own output and a progress line every 15 s go to `log`.
 *
 * @throws if `go` is not given, or `go install` fails (the error carries go's last lines).
 * @example
 * const [temporal] = await goInstall(findGo()!, { what: 'the Temporal CLI', packages: [CLI_MODULE],
 *   dir: ferryCacheDir('temporal-cli-1.5.1'), binaries: ['temporal'], otherwise: 'install it yourself' }, console.log);
 */
export async function goInstall(go: string, build: GoBuild, log: Log = defaultLog): Promise<string[]> {
  const targets = builtPaths(build);
  fs.mkdirSync(build.dir, { recursive: true });
  const release = await acquireLock(path.join(build.dir, '.build.lock'), LOCK_WAIT_MS, (holder) =>
    log(`waiting for another process (pid ${holder}) that is building ${build.what}...`),
  );
  try {
    if (targets.every(isExecutable)) return targets;
    removeLeftoverBuilds(build.dir);
    const tmpBin = fs.mkdtempSync(path.join(build.dir, '.build-'));
    try {
      await runGoInstall(go, tmpBin, build, log);
      for (const bin of build.binaries) fs.renameSync(path.join(tmpBin, bin + EXE), path.join(build.dir, bin + EXE));
    } finally {
      fs.rmSync(tmpBin, { recursive: true, force: true });
    }
    log(`${build.what} built: ${targets.join(', ')}`);
    return targets;
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

/** Runs `go install` with GOBIN=tmpBin, streaming go's output and a progress line every 15 s. */
async function runGoInstall(go: string, tmpBin: string, build: GoBuild, log: Log): Promise<void> {
  log(`building ${build.what} with Go (${go}); the first build takes several minutes...`);
  const started = Date.now();
  const child = spawn(go, ['install', ...build.packages], {
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
    () => log(`still building ${build.what} (${ms(Date.now() - started, { long: true })} elapsed)...`),
    PROGRESS_EVERY_MS,
  );
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', resolve);
    });
    if (code !== 0) {
      throw new Error(
        `"go install ${build.packages.join(' ')}" failed (exit ${code}):\n${tail.join('\n')}\n` +
          `Fix the Go error above, or ${build.otherwise}.`,
      );
    }
  } finally {
    clearInterval(ticker);
  }
}
