import type { Pool } from 'pg';
import { startCanaryThread, type CanarySample, type CanaryThread } from './canary-thread';

/**
 * The latency canary of `backfill.health.latency`: the application's own representative read,
 * run on a connection of its own at a steady rate — between batches and during them — and its p99
 * over a sliding window, against the budget. A sample that errors or times out counts as over
 * budget (fail closed: a canary that cannot measure must not say all is well).
 *
 * The samples are taken in a thread of its own (`canary-thread.ts`), each the query's round trip on
 * a warm, connected client: the main thread's event loop, busy with the backfill, does not delay
 * them. This module keeps the window and the verdict.
 *
 * The window is a small exact one (the last `window` samples, sorted when asked): a t-digest
 * (`tdigest`, installed only as prom-client's dependency) cannot forget old samples, and a few
 * hundred numbers sort in microseconds.
 */

/** The budget as the definition states it: a fixed p99, or a ratio to the p99 before the backfill. */
export type LatencyBudget = { query: string; p99Ms?: number; ratio?: number };

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
}

/** The canary's judgement now. */
export interface LatencyVerdict {
  over: boolean;
  /** The window's p99 (Infinity when a sample failed in it). */
  p99Ms: number;
  budgetMs: number;
  /** e.g. `latency p99 4.1 ms > budget 3 ms`, or `latency canary failed: ...`. */
  reason: string;
}

/** A running canary, shared by the chunks of one migration on one worker. */
export interface LatencyCanary {
  /** Starts sampling (if stopped) and counts a user; `release` when the chunk ends. */
  acquire(): void;
  release(): void;
  /**
   * Resolves once the budget is known and there is something to judge: a `ratio` budget waits for
   * its baseline samples, a fixed one for the first sample (the thread takes a moment to start).
   */
  ready(signal?: AbortSignal): Promise<void>;
  verdict(): LatencyVerdict;
  /**
   * The verdict on the samples taken since `sinceMs` (epoch ms) only, or undefined while fewer than
   * `freshSamples` were: what the control loop reads after it slowed down, so that the window's
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
};

/**
 * A canary for `budget` on a new connection with the pool's settings.
 * @example
 * const canary = latencyCanary(pool, { query: 'SELECT * FROM posts WHERE id = 42', p99Ms: 5 });
 * canary.acquire(); await canary.ready(); canary.verdict(); // { over: false, p99Ms: 0.4, budgetMs: 5, ... }
 */
export function latencyCanary(pool: Pool, budget: LatencyBudget, options: CanaryOptions = {}): LatencyCanary {
  const o = { ...DEFAULTS, ...options };
  const window = slidingWindow(o.window);
  const baseline: number[] = [];
  let lastError: string | undefined;
  let users = 0;
  let sampler: CanaryThread | undefined;
  let idleTimer: NodeJS.Timeout | undefined;
  const budgetMs = (): number => budget.p99Ms ?? (budget.ratio ?? 1) * percentileOf(baseline, 0.99);
  const record = ({ ms, error }: CanarySample): void => {
    lastError = error ?? (Number.isFinite(ms) ? undefined : lastError);
    if (budget.ratio !== undefined && baseline.length < o.baselineSamples) baseline.push(Number.isFinite(ms) ? ms : o.timeoutMs);
    else window.push(ms, Date.now());
  };
  // A thread that died has counted as a failed sample; the next one starts when the canary is next wanted.
  const start = (): void => {
    const settings = { query: budget.query, everyMs: o.everyMs, timeoutMs: o.timeoutMs };
    sampler ??= startCanaryThread(pool, settings, record, () => (sampler = undefined));
  };
  return {
    acquire() {
      users += 1;
      clearTimeout(idleTimer);
      start();
    },
    release() {
      users = Math.max(0, users - 1);
      if (users > 0) return;
      // Not unref'd: the thread is asked to end its connection before the worker's process exits.
      idleTimer = setTimeout(() => (sampler?.stop(), (sampler = undefined)), o.idleStopMs);
    },
    async ready(signal) {
      const waiting = () => (budget.ratio !== undefined ? baseline.length < o.baselineSamples : window.size() === 0);
      while (waiting()) {
        signal?.throwIfAborted();
        if (users > 0) start(); // the thread died while the baseline was measured
        await new Promise((r) => setTimeout(r, o.everyMs));
      }
    },
    verdict() {
      if (users > 0) start(); // a thread that died is replaced once its failed sample has been judged
      return judge(window.p99(), budgetMs(), lastError);
    },
    verdictSince(sinceMs) {
      const fresh = window.since(sinceMs);
      return fresh.size() < o.freshSamples ? undefined : judge(fresh.p99(), budgetMs(), lastError);
    },
  };
}

/** The verdict of a window's p99 against the budget. */
export function judge(p99Ms: number, budgetMs: number, error?: string): LatencyVerdict {
  const over = !(p99Ms <= budgetMs);
  if (!Number.isFinite(p99Ms)) return { over, p99Ms, budgetMs, reason: `latency canary failed: ${error ?? 'no answer'}` };
  return { over, p99Ms, budgetMs, reason: `latency p99 ${fmt(p99Ms)} ms ${over ? '>' : '<='} budget ${fmt(budgetMs)} ms` };
}

/** Milliseconds with two significant decimals at most: 4.1, 0.35, 12. */
function fmt(ms: number): string {
  return String(ms >= 10 ? Math.round(ms) : Math.round(ms * 100) / 100);
}

/** The last `size` values (each with when it was taken, epoch ms) and their p99 (nearest rank; 0 when empty). */
export function slidingWindow(size: number) {
  const values: number[] = [];
  const times: number[] = [];
  return {
    push(v: number, at = Date.now()) {
      values.push(v);
      times.push(at);
      if (values.length > size) {
        values.shift();
        times.shift();
      }
    },
    /** Infinity while a failed sample is in the window (fail closed). */
    p99: () => p99Failing(values),
    size: () => values.length,
    /** The values taken at or after `sinceMs`, as a window of their own. */
    since(sinceMs: number) {
      const fresh = values.filter((_v, i) => times[i] >= sinceMs);
      return { p99: () => p99Failing(fresh), size: () => fresh.length };
    },
  };
}

/** The p99 of `values`, Infinity when one of them failed. */
function p99Failing(values: number[]): number {
  return values.some((v) => !Number.isFinite(v)) ? Infinity : percentileOf(values, 0.99);
}

/** The `q` quantile of `values` by nearest rank, 0 when empty. @example percentileOf([1, 2, 3, 4], 0.5) // 2 */
export function percentileOf(values: number[], q: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length))) - 1];
}
