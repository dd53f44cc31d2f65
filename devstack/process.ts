import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/**
 * Processes and programs of the dev stack: is a pid alive, lock files, finding an executable,
 * stopping a child process.
 */

export const EXE = process.platform === 'win32' ? '.exe' : '';

/** True if `file` is an executable regular file. */
export function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** The first executable called `name` on $PATH, or undefined. */
export function findOnPath(name: string): string | undefined {
  const dirs = (process.env.PATH ?? '').split(path.delimiter).filter(Boolean);
  return dirs.map((dir) => path.join(dir, name + EXE)).find(isExecutable);
}

/** Resolves when the child has exited, or after `timeoutMs` with false. */
function waitForExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/**
 * Sends `signal`, then SIGKILL after `graceMs`; resolves once the process is gone.
 * @example await stopChild(server, 'SIGTERM', 10_000);
 */
export async function stopChild(child: ChildProcess, signal: NodeJS.Signals, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  child.kill(signal);
  if (await waitForExit(child, graceMs)) return;
  child.kill('SIGKILL');
  await waitForExit(child, graceMs);
}

/** True if a process with this pid exists (EPERM: it exists but belongs to another user). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Creates the lock file with our pid; false if it already exists. */
function tryLock(lockPath: string): boolean {
  try {
    fs.writeFileSync(lockPath, String(process.pid), { flag: 'wx' });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

/** The pid in the lock file, or undefined while it is missing or not yet written. */
function lockHolder(lockPath: string): number | undefined {
  try {
    const pid = Number.parseInt(fs.readFileSync(lockPath, 'utf8'), 10);
    return Number.isInteger(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Takes an exclusive lock file (our pid in it), waiting up to `waitMs` while a live process holds
 * it and breaking a dead one's lock; `onWait(holder)` is called once when it has to wait.
 * Resolves to the function that releases it.
 * @example
 * const release = await acquireLock('.ferry/temporal.db.start.lock', 60_000, (pid) => log(`waiting for ${pid}`));
 * try { ... } finally { release(); }
 */
export async function acquireLock(lockPath: string, waitMs: number, onWait: (holder?: number) => void): Promise<() => void> {
  const deadline = Date.now() + waitMs;
  let announced = false;
  while (!tryLock(lockPath)) {
    const holder = lockHolder(lockPath);
    if (holder !== undefined && !isAlive(holder)) {
      fs.rmSync(lockPath, { force: true });
      continue;
    }
    if (Date.now() > deadline) {
      throw new Error(`lock file "${lockPath}" is still held by pid ${holder}; stop that process or delete the file.`);
    }
    if (!announced) onWait(holder);
    announced = true;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return () => fs.rmSync(lockPath, { force: true });
}
