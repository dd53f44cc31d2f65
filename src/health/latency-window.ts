/**
 * The pure parts of the latency budget (src/health/latency.ts): the sliding window of samples,
 * its p99, and the verdict of a p99 against a budget, for each probe — the application's
 * representative read, and the commit probe that times a commit's WAL flush.
 */

/** What a sample times: the application's read (`query`), or a commit of ferry's own row (`commit: true`). */
export type ProbeKind = 'read' | 'commit';

/** The canary's judgement now. */
export interface LatencyVerdict {
  over: boolean;
  /** The window's p99 (Infinity when a sample failed in it). */
  p99Ms: number;
  budgetMs: number;
  /**
   * e.g. `latency p99 4.1 ms > budget 3 ms` (the read), `commit latency p99 9.4 ms > budget 3 ms`
   * (the commit probe), or `latency canary failed: ...` / `commit latency probe failed: ...`.
   */
  reason: string;
}

/** The first words of each probe's reasons. */
const SAYS: Record<ProbeKind, { p99: string; failed: string }> = {
  read: { p99: 'latency p99', failed: 'latency canary failed' },
  commit: { p99: 'commit latency p99', failed: 'commit latency probe failed' },
};

/**
 * The verdict of a probe's p99 against the budget (the read's unless `kind` says otherwise).
 * @example judge(4.123, 3).reason // 'latency p99 4.12 ms > budget 3 ms'
 * @example judge(9.4, 3, undefined, 'commit').reason // 'commit latency p99 9.4 ms > budget 3 ms'
 */
export function judge(p99Ms: number, budgetMs: number, error?: string, kind: ProbeKind = 'read'): LatencyVerdict {
  const over = !(p99Ms <= budgetMs);
  const says = SAYS[kind];
  if (!Number.isFinite(p99Ms)) return { over, p99Ms, budgetMs, reason: `${says.failed}: ${error ?? 'no answer'}` };
  return { over, p99Ms, budgetMs, reason: `${says.p99} ${fmt(p99Ms)} ms ${over ? '>' : '<='} budget ${fmt(budgetMs)} ms` };
}

/**
 * The verdict of several probes: over when any is; the worst probe's p99, budget and reason (an
 * over one before any within: the highest p99 / budget).
 * @example worstOf([judge(2, 3), judge(4, 3, undefined, 'commit')]).reason // 'commit latency p99 4 ms > budget 3 ms'
 */
export function worstOf(verdicts: LatencyVerdict[]): LatencyVerdict {
  // Over a budget is p99 / budget > 1 (a failed probe's p99 is Infinity), within it ≤ 1.
  const load = (v: LatencyVerdict): number => (v.budgetMs > 0 ? v.p99Ms / v.budgetMs : v.p99Ms > 0 ? Infinity : 0);
  return verdicts.reduce((worst, v) => (load(v) > load(worst) ? v : worst));
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

/** A sliding window, as `slidingWindow` returns it. */
export type SlidingWindow = ReturnType<typeof slidingWindow>;

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
