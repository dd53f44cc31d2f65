import fs from 'node:fs';

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
