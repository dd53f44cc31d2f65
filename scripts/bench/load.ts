/** Starts and stops the application load (load-child.ts) and summarises its samples per window. */
import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { track } from './children';
import type { LoadConfig, LoadSample } from './load-child';
import { log } from './log';
import { percentile, perSecond, round, type Point } from './stats';

const ROOT = path.resolve(__dirname, '..', '..');

/** A running load. `stop()` ends it and returns every sample. */
export interface RunningLoad {
  pid: number;
  stop(): Promise<LoadSample[]>;
}

/** What the application saw in one window of time. */
export interface LatencySummary {
  p50Ms: number;
  p99Ms: number;
  /** p99 of the time from having a connection to the answer: without the wait for a free connection. */
  serviceP99Ms: number;
  /** p99 of the point reads and of the single-row updates (each update commits, so waits for the WAL flush). */
  readP99Ms: number;
  updateP99Ms: number;
  maxMs: number;
  operations: number;
  opsPerSec: number;
  seconds: number;
}

function isLoopback(url: string): boolean {
  const host = new URL(url).hostname;
  return host === '127.0.0.1' || host === 'localhost' || host === '[::1]' || host === '::1';
}

function waitForMessage(child: ChildProcess, message: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: unknown) => m === message && (cleanup(), resolve());
    const onExit = (code: number | null) => (cleanup(), reject(new Error(`the load process exited (${code}) before "${message}"`)));
    const cleanup = () => (child.off('message', onMessage), child.off('exit', onExit));
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

/**
 * Starts the load on the database at `config.url` (loopback only) and resolves once every
 * connection is open. Operations are bounded by `maxSeconds` even if nobody calls `stop()`.
 */
export async function startLoad(config: Omit<LoadConfig, 'out'>, outDir: string): Promise<RunningLoad> {
  if (!isLoopback(config.url)) throw new Error('the bench sends its application load to a loopback PostgreSQL only');
  fs.mkdirSync(outDir, { recursive: true }); // the load child writes its samples there
  const out = path.join(outDir, `load-${process.pid}-${Date.now()}.json`);
  const child = fork(path.join(__dirname, 'load-child.ts'), [], {
    cwd: ROOT,
    execArgv: ['--require', 'tsx/cjs'],
    env: { ...process.env, FERRY_BENCH_LOAD: JSON.stringify({ ...config, out }) },
    stdio: ['ignore', 2, 2, 'ipc'],
  });
  track(child);
  // Listened for from the start: a load that reaches `maxSeconds` says "done" and disconnects on its own.
  let finished = false;
  const done = waitForMessage(child, 'done').then(() => void (finished = true));
  done.catch(() => undefined); // awaited in stop(); an exit before "ready" is reported by the wait below
  await waitForMessage(child, 'ready');
  log(`application load: ${config.ratePerSecond} requests/s on a pool of ${config.connections} connections (3 reads : 1 update)`);
  const startedMs = Date.now();
  return {
    pid: child.pid ?? 0,
    stop: async () => {
      const ended = finished || !child.connected; // before being asked: its own deadline, or it died
      if (!ended) child.send('stop', () => undefined); // with a callback, a channel closed meanwhile is not an 'error' event
      await done; // rejects, saying how, if it exited without its samples
      if (ended) {
        fs.rmSync(out, { force: true });
        const ranS = Math.round((Date.now() - startedMs) / 1000);
        throw new Error(
          `the application load stopped on its own after --app-max-seconds (${config.maxSeconds} s) and the windows ran ${ranS} s: ` +
            `their figures would be partial; run again with --app-max-seconds ${Math.ceil((ranS * 1.5) / 60) * 60} or more`,
        );
      }
      const samples = JSON.parse(fs.readFileSync(out, 'utf8')) as LoadSample[];
      fs.rmSync(out, { force: true });
      return samples;
    },
  };
}

/** A stretch of time, epoch ms, end exclusive. */
export interface Window {
  startMs: number;
  endMs: number;
}

/** The samples that ended within any of the windows. */
export function within(samples: LoadSample[], windows: Window[]): LoadSample[] {
  return samples.filter((s) => windows.some((w) => s[0] >= w.startMs && s[0] < w.endMs));
}

/**
 * Of baseline windows (before and after a backfill), the one with the lower p99, summarised: a
 * backfill's ratios are taken to it, not to the windows pooled, so one hiccup in one window
 * (autovacuum of the table just rewritten, a checkpoint) cannot make the backfill look gentler.
 */
export function quieterWindow(samples: LoadSample[], windows: Window[]): LatencySummary {
  const each = windows.map((w) => summarise(samples, [w]));
  return each.reduce((a, b) => (b.p99Ms < a.p99Ms ? b : a));
}

/**
 * The application's latency during `w`, the quieter of `baselines` (`quieterWindow`), and the
 * p50/p99 ratios of the one to the other: how every backfill window of the bench is judged.
 */
export function ratiosToQuieter(samples: LoadSample[], w: Window, baselines: Window[]) {
  const during = summarise(samples, [w]);
  const baseline = quieterWindow(samples, baselines);
  return { during, baseline, p50: round(during.p50Ms / baseline.p50Ms, 2), p99: round(during.p99Ms / baseline.p99Ms, 2) };
}

/** p50/p99 and counts of the samples in the windows, pooled. */
export function summarise(samples: LoadSample[], windows: Window[]): LatencySummary {
  const w = within(samples, windows);
  const latency = w.map((s) => s[1]);
  const seconds = windows.reduce((sum, win) => sum + (win.endMs - win.startMs), 0) / 1000;
  return {
    p50Ms: round(percentile(latency, 0.5), 2),
    p99Ms: round(percentile(latency, 0.99), 2),
    serviceP99Ms: round(
      percentile(
        w.map((s) => s[2]),
        0.99,
      ),
      2,
    ),
    readP99Ms: round(
      percentile(
        w.filter((s) => s[3] === 0).map((s) => s[1]),
        0.99,
      ),
      2,
    ),
    updateP99Ms: round(
      percentile(
        w.filter((s) => s[3] === 1).map((s) => s[1]),
        0.99,
      ),
      2,
    ),
    maxMs: round(
      latency.reduce((m, v) => Math.max(m, v), 0),
      1,
    ),
    operations: w.length,
    opsPerSec: round(w.length / seconds, 1),
    seconds: round(seconds, 1),
  };
}

/** The p99 latency of each second of [startMs, endMs), for the chart. */
export function p99PerSecond(samples: LoadSample[], startMs: number, endMs: number): Point[] {
  return perSecond(
    samples,
    (s) => s[0],
    startMs,
    endMs,
    (b) =>
      round(
        percentile(
          b.map((s) => s[1]),
          0.99,
        ),
        2,
      ),
  );
}
