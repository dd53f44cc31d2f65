/** A `ferry worker` child process, with its memory sampled from /proc while it runs. */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { track } from './children';
import { log, sleep } from './log';

const ROOT = path.resolve(__dirname, '..', '..');

/** One reading of /proc/<pid>: resident set now and its high-water mark in MiB, CPU time used so far. */
export interface RssSample {
  atMs: number;
  rssMb: number;
  hwmMb: number;
  cpuSeconds: number;
}

/** Clock ticks per second of /proc/<pid>/stat: 100 on every Linux the bench runs on (`getconf CLK_TCK`). */
const CLOCK_TICKS = 100;

/** A running worker. `stop()` sends SIGTERM (SIGKILL after 20 s) and waits for it to exit. */
export interface WorkerProcess {
  pid: number;
  rss: RssSample[];
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

/** VmRSS, VmHWM and user + system CPU time of `pid`, or undefined once it is gone. */
export function readRss(pid: number): RssSample | undefined {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // from field 3 (state) on
    const cpuSeconds = (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS; // utime, stime
    return { atMs: Date.now(), rssMb: kb('VmRSS') / 1024, hwmMb: kb('VmHWM') / 1024, cpuSeconds };
  } catch {
    return undefined;
  }
}

async function waitUntilReady(proc: ChildProcess, logFile: string): Promise<void> {
  for (let i = 0; i < 1200; i++) {
    if (fs.readFileSync(logFile, 'utf8').includes('ferry worker:')) return;
    if (proc.exitCode !== null) throw new Error(`ferry worker exited:\n${fs.readFileSync(logFile, 'utf8')}`);
    await sleep(100);
  }
  throw new Error(`ferry worker did not start within 2 minutes; see ${logFile}`);
}

/** Starts `ferry worker` with `env`, logging to `logFile`, and resolves once it polls its task queue. */
export async function startWorker(env: NodeJS.ProcessEnv, logFile: string): Promise<WorkerProcess> {
  const out = fs.openSync(logFile, 'w');
  const proc = spawn(process.execPath, [path.join(ROOT, 'bin', 'ferry.js'), 'worker'], { cwd: ROOT, env, stdio: ['ignore', out, out] });
  fs.closeSync(out);
  track(proc);
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  const rss: RssSample[] = [];
  const timer = setInterval(() => {
    const sample = proc.pid ? readRss(proc.pid) : undefined;
    if (sample) rss.push(sample);
  }, 500);
  try {
    await waitUntilReady(proc, logFile);
  } catch (err) {
    clearInterval(timer);
    proc.kill('SIGKILL');
    throw err;
  }
  log(`ferry worker running (pid ${proc.pid}, log ${path.relative(ROOT, logFile)})`);
  const stop = async () => {
    clearInterval(timer);
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill('SIGTERM');
    const killer = setTimeout(() => proc.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(killer);
  };
  return { pid: proc.pid ?? 0, rss, exited, stop };
}

/**
 * Waits until the worker has settled after start-up (bundling the workflow code, loading it, the
 * first JIT compilations): under 20 ms of CPU in a second, twice in a row, or `maxMs`. A worker in
 * production runs long before a migration starts; the bench measures that worker, not its start.
 */
export async function untilIdle(worker: WorkerProcess, maxMs = 30_000): Promise<void> {
  const deadline = Date.now() + maxMs;
  let quiet = 0;
  let last = readRss(worker.pid)?.cpuSeconds ?? 0;
  while (quiet < 2 && Date.now() < deadline) {
    await sleep(1000);
    const now = readRss(worker.pid)?.cpuSeconds ?? last;
    quiet = now - last < 0.02 ? quiet + 1 : 0;
    last = now;
  }
}
