/**
 * The child processes the bench started (workers, the load), so that an interrupted run (Ctrl-C,
 * SIGTERM) or a crash still ends them: only these, by their own handles.
 */
import type { ChildProcess } from 'node:child_process';

const running = new Set<ChildProcess>();

/** Remembers `child` until it exits. */
export function track(child: ChildProcess): void {
  running.add(child);
  child.once('exit', () => running.delete(child));
}

/** Sends SIGTERM to every tracked child still running. */
export function terminateAll(): void {
  for (const child of running) child.kill('SIGTERM');
}

process.once('exit', terminateAll);
