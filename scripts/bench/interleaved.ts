/**
 * A backfill window between two windows without a backfill, all under the same application load
 * on one fresh copy: baseline, backfill, baseline. The application's p50 and p99 during the
 * backfill are reported as ratios to the quieter of the two baselines (`quieterWindow`), so the
 * machine's drift (other work on a shared machine) affects both sides of a ratio alike, and a
 * hiccup in one baseline window does not flatter the backfill.
 */
import { dropDatabases, freshCopy } from './databases';
import { ratiosToQuieter, startLoad, type LatencySummary, type Window } from './load';
import type { LoadSample } from './load-child';
import { log, sleep } from './log';

/** How to run the load and the windows. */
export interface InterleaveSettings {
  adminUrl: string;
  template: string;
  rows: number;
  appRate: number;
  appConnections: number;
  appMaxSeconds: number;
  baselineSeconds: number;
  outDir: string;
  keep?: boolean;
}

/** What a backfill window measured, as ratios to the interleaved baselines. */
export interface Interleaved<T> {
  result: T;
  during: LatencySummary;
  baseline: LatencySummary;
  p50Ratio: number;
  p99Ratio: number;
  windows: { baseline: Window[]; backfill: Window };
  samples: LoadSample[];
}

const WARM_UP_MS = 2000;

/**
 * On a fresh copy `name` of the template, under the load: a baseline window, `backfill(url)`
 * (which returns its own window), another baseline window.
 */
export async function interleaved<T extends { startMs: number; endMs: number }>(
  s: InterleaveSettings,
  name: string,
  backfill: (url: string) => Promise<T>,
): Promise<Interleaved<T>> {
  const url = await freshCopy(s.adminUrl, s.template, name);
  try {
    const load = await startLoad(
      { url, rows: s.rows, connections: s.appConnections, ratePerSecond: s.appRate, maxSeconds: s.appMaxSeconds },
      s.outDir,
    );
    let samples: LoadSample[] | undefined;
    try {
      await sleep(WARM_UP_MS);
      const before = await baseline(s.baselineSeconds);
      const result = await backfill(url);
      const after = await baseline(s.baselineSeconds);
      samples = await load.stop();
      return summariseWindows(result, samples, [before, after]);
    } finally {
      if (!samples) await load.stop().catch(() => undefined);
    }
  } finally {
    if (!s.keep) await dropDatabases(s.adminUrl, [name]);
  }
}

function summariseWindows<T extends { startMs: number; endMs: number }>(
  result: T,
  samples: LoadSample[],
  baselines: Window[],
): Interleaved<T> {
  const backfill = { startMs: result.startMs, endMs: result.endMs };
  const { during, baseline, p50, p99 } = ratiosToQuieter(samples, backfill, baselines);
  return {
    result,
    during,
    baseline,
    p50Ratio: p50,
    p99Ratio: p99,
    windows: { baseline: baselines, backfill },
    samples,
  };
}

async function baseline(seconds: number): Promise<Window> {
  log(`baseline: the application load alone for ${seconds} s`);
  const startMs = Date.now();
  await sleep(seconds * 1000);
  return { startMs, endMs: Date.now() };
}
