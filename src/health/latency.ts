import type { Pool } from 'pg';
import type { ConnectionLog } from '../pg/pool';
import { startCanaryThread, type CanarySample, type CanaryThread, type CanaryThreadSettings } from './canary-thread';
import { probeSet, type LatencyBudget, type LatencyVerdict } from './latency-window';

export {
  formatMs,
  isLatencyReason,
  judge,
  percentileOf,
  probeKinds,
  slidingWindow,
  worstOf,
  type LatencyBudget,
  type LatencyVerdict,
  type ProbeKind,
} from './latency-window';

/**
 * The latency canary of `backfill.health.latency`: the application's own representative read,
 * run on a connection of its own at a steady rate — between batches and during them — and its p99
 * over a sliding window, against the budget. A sample that errors or times out counts as over
 * budget (fail closed: a canary that cannot measure must not say all is well).
 *
 * With `commit: true` a second probe times a commit: the thread writes a row of ferry's own
 * (`ferry.latency_probes`) under `synchronous_commit = on`, so each sample waits for the WAL flush as
 * the application's writes do — which a backfill's WAL volume slows and a read does not see. Each
 * probe has its own window (and, for a `ratio` budget, its own baseline); the canary is over when
 * any probe is, and reports the worst one.
 *
 * The samples are taken in a thread of its own (`canary-thread.ts`), each a round trip on a warm,
 * connected client: the main thread's event loop, busy with the backfill, does not delay them.
 * Unless the pool's connection settings hold functions a thread cannot receive (a connector's
 * `stream`, `ssl.checkServerIdentity`): then the samples are taken on the main thread, so that the
 * canary connects as the worker does, and the log says so once (its samples include the main
 * thread's lag). This module keeps the windows and the verdict (the pure parts in `latency-window.ts`).
 *
 * The window is a small exact one (the last `window` samples, sorted when asked): a t-digest
 * (`tdigest`, installed only as prom-client's dependency) cannot forget old samples, and a few
 * hundred numbers sort in microseconds.
 */

/** How the canary samples; tests shorten these. */
export interface CanaryOptions {
  /** Between two samples (default 50 ms: 20 a second). */
  everyMs?: number;
  /** Samples in the sliding window (default 100: 5 s at the default rate). */
  window?: number;
  /**
   * Samples before the first batch that make the baseline of a `ratio` budget (default 100: their
   * p99 by nearest rank is the second slowest, so one outlier does not set the budget).
   */
  baselineSamples?: number;
  /** A sample slower than this is cancelled (`statement_timeout`) and counts as an error (default 1 s). */
  timeoutMs?: number;
  /** How long the canary goes on after its last user let go, so chunks in a row share it (default 2 s). */
  idleStopMs?: number;
  /** Samples taken since a time that `verdictSince` needs before it judges (default 10: half a second). */
  freshSamples?: number;
  /** The migration's name: the first part of the commit probe's row key (default `ferry`). */
  migration?: string;
}

/** A running canary, shared by the chunks of one migration on one worker. */
export interface LatencyCanary {
  /**
   * Starts sampling (if stopped) and counts a user; `release` when the chunk ends. `log` (the
   * chunk's) is where the canary says once that it samples on the main thread; without one, stderr.
   */
  acquire(log?: ConnectionLog): void;
  release(): void;
  /**
   * Resolves once the budget is known and there is something to judge, for every probe: a `ratio`
   * budget waits for each probe's baseline samples, a fixed one for its first sample (the thread
   * takes a moment to start).
   */
  ready(signal?: AbortSignal): Promise<void>;
  verdict(): LatencyVerdict;
  /**
   * The verdict on the samples taken since `sinceMs` (epoch ms) only, or undefined while fewer than
   * `freshSamples` were (of any probe): what the control loop reads after it slowed down, so that the window's
   * older samples, taken before it did, do not slow it down again.
   */
  verdictSince(sinceMs: number): LatencyVerdict | undefined;
}

const DEFAULTS: Required<CanaryOptions> = {
  everyMs: 50,
  window: 100,
  baselineSamples: 100,
  timeoutMs: 1000,
  idleStopMs: 2000,
  freshSamples: 10,
  migration: 'ferry',
};

/**
 * A canary for `budget` on new connections with the pool's settings.
 * @example
 * const canary = latencyCanary(pool, { query: 'SELECT * FROM posts WHERE id = 42', commit: true, p99Ms: 5 });
 * canary.acquire(); await canary.ready(); canary.verdict(); // { over: false, p99Ms: 1.2, budgetMs: 5, ... }
 */
export function latencyCanary(pool: Pool, budget: LatencyBudget, options: CanaryOptions = {}): LatencyCanary {
  const o = { ...DEFAULTS, ...options };
  const probes = probeSet(budget, o);
  const { query, commit } = budget;
  const settings = { query, commit: commit === true, migration: o.migration, everyMs: o.everyMs, timeoutMs: o.timeoutMs };
  const sampler = canarySampler(pool, settings, probes.record);
  let users = 0;
  let idleTimer: NodeJS.Timeout | undefined;
  let log = stderrLog;
  const start = (): void => sampler.start(log);
  return {
    acquire(chunkLog) {
      log = chunkLog ?? log;
      users += 1;
      clearTimeout(idleTimer);
      start();
    },
    release() {
      users = Math.max(0, users - 1);
      if (users > 0) return;
      // Not unref'd: the thread is asked to end its connections before the worker's process exits.
      idleTimer = setTimeout(() => sampler.stop(), o.idleStopMs);
    },
    async ready(signal) {
      while (probes.waiting()) {
        signal?.throwIfAborted();
        if (users > 0) start(); // the thread died while the baseline was measured
        await new Promise((r) => setTimeout(r, o.everyMs));
      }
    },
    verdict() {
      if (users > 0) start(); // a thread that died is replaced once its failed sample has been judged
      return probes.verdict();
    },
    verdictSince(sinceMs) {
      return probes.verdictSince(sinceMs, o.freshSamples);
    },
  };
}

/**
 * The canary's sampler (`startCanaryThread`), started when wanted and stopped when not. One that
 * died has counted as a failed sample; the next starts when the canary is next wanted. That it
 * samples on the main thread goes to `log` once per canary, not at each restart: the settings do not change.
 */
function canarySampler(pool: Pool, settings: CanaryThreadSettings, record: (sample: CanarySample) => void) {
  let sampler: CanaryThread | undefined;
  let told = false;
  return {
    start(log: ConnectionLog): void {
      if (sampler) return;
      sampler = startCanaryThread(pool, settings, record, () => (sampler = undefined));
      if (told || sampler.functionFields.length === 0) return;
      told = true;
      log(mainThreadNotice(sampler.functionFields));
    },
    stop(): void {
      sampler?.stop();
      sampler = undefined;
    },
  };
}

/** Where the notice goes when no chunk gave a log: a line on stderr, as the worker's own warnings. */
const stderrLog: ConnectionLog = (message) => console.warn(`[ferry] ${message}`);

/** What a canary that samples on the main thread says: which settings made it (their paths, never their values). */
function mainThreadNotice(fields: string[]): string {
  return (
    `latency canary: sampling on the main thread, not in a thread of its own: the connection settings hold functions ` +
    `a thread cannot receive (${fields.join(', ')}); its samples include the main thread's lag`
  );
}
