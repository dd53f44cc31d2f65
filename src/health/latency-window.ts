/**
 * The pure parts of the latency budget (src/health/latency.ts): the probes' samples — the
 * application's representative read, and the commit probe that times a commit's WAL flush — each
 * in a sliding window with its p99, and their verdict against the budget.
 */

/**
 * The budget as the definition states it: which probes run (the read `query`, a `commit`, or both)
 * and a fixed p99 each must keep under, or a ratio to each probe's own p99 before the backfill.
 */
export type LatencyBudget = { query?: string; commit?: boolean; p99Ms?: number; ratio?: number };

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

/** One sample of a probe (`kind`), or of all of them (no `kind`: the sampler itself failed). */
export interface ProbeSample {
  kind?: ProbeKind;
  ms: number;
  error?: string;
}

/** One probe's samples: its window, its baseline (a `ratio` budget) and its last error. */
interface Probe {
  kind: ProbeKind;
  window: SlidingWindow;
  baseline: number[];
  lastError?: string;
}

/**
 * The probes `budget` asks for (the read when it has a `query`, the commit when `commit` is true),
 * each with its own window and, for a `ratio`, its own baseline of `baselineSamples` (a failed
 * one counts as `timeoutMs`); judged together, the worst of them.
 * @example const probes = probeSet({ commit: true, p99Ms: 5 }, { window: 100, baselineSamples: 100, timeoutMs: 1000 });
 */
export function probeSet(budget: LatencyBudget, o: { window: number; baselineSamples: number; timeoutMs: number }) {
  const probes = probesOf(budget, o.window);
  const measuring = (p: Probe): boolean => budget.ratio !== undefined && p.baseline.length < o.baselineSamples;
  const budgetMs = (p: Probe): number => budget.p99Ms ?? (budget.ratio ?? 1) * percentileOf(p.baseline, 0.99);
  const judged = (p: Probe, w: { p99(): number }): LatencyVerdict => judge(w.p99(), budgetMs(p), p.lastError, p.kind);
  const recordIn = (p: Probe, { ms, error }: ProbeSample): void => {
    p.lastError = error ?? (Number.isFinite(ms) ? undefined : p.lastError);
    if (measuring(p)) p.baseline.push(Number.isFinite(ms) ? ms : o.timeoutMs);
    else p.window.push(ms, Date.now());
  };
  return {
    record(sample: ProbeSample): void {
      for (const p of probes) if (sample.kind === undefined || p.kind === sample.kind) recordIn(p, sample);
    },
    /** Whether some probe's budget is not known yet: its baseline (`ratio`) or its first sample. */
    waiting: (): boolean => probes.some((p) => (budget.ratio !== undefined ? measuring(p) : p.window.size() === 0)),
    verdict: (): LatencyVerdict => worstOf(probes.map((p) => judged(p, p.window))),
    /** The worst verdict on the samples since `sinceMs`; undefined while a probe has fewer than `freshSamples`. */
    verdictSince(sinceMs: number, freshSamples: number): LatencyVerdict | undefined {
      const fresh = probes.map((p) => ({ p, w: p.window.since(sinceMs) }));
      return fresh.some(({ w }) => w.size() < freshSamples) ? undefined : worstOf(fresh.map(({ p, w }) => judged(p, w)));
    },
  };
}

/**
 * The probes a budget runs: the read when it has a `query`, the commit when `commit` is true.
 * @example probeKinds({ query: 'SELECT 1', commit: true }) // ['read', 'commit']
 */
export function probeKinds(budget: Pick<LatencyBudget, 'query' | 'commit'>): ProbeKind[] {
  const kinds: ProbeKind[] = [
    ...(budget.query !== undefined ? ['read' as const] : []),
    ...(budget.commit === true ? ['commit' as const] : []),
  ];
  if (kinds.length === 0) throw new Error('a latency budget needs a "query", "commit: true", or both');
  return kinds;
}

/** The probes of `budget`, each with an empty window of `size`. */
function probesOf(budget: LatencyBudget, size: number): Probe[] {
  return probeKinds(budget).map((kind) => ({ kind, window: slidingWindow(size), baseline: [] }));
}

/** The first words of each probe's reasons. */
const SAYS: Record<ProbeKind, { p99: string; failed: string }> = {
  read: { p99: 'latency p99', failed: 'latency canary failed' },
  commit: { p99: 'commit latency p99', failed: 'commit latency probe failed' },
};

/**
 * Whether `reason` is one of the latency budget's (any probe's, within or over, or failed).
 * @example isLatencyReason('commit latency p99 9.4 ms > budget 3 ms') // true
 */
export function isLatencyReason(reason: string | undefined): boolean {
  return Object.values(SAYS).some((says) => reason?.startsWith(says.p99) === true || reason?.startsWith(says.failed) === true);
}

/**
 * The verdict of a probe's p99 against the budget (the read's unless `kind` says otherwise).
 * @example judge(4.123, 3).reason // 'latency p99 4.12 ms > budget 3 ms'
 * @example judge(9.4, 3, undefined, 'commit').reason // 'commit latency p99 9.4 ms > budget 3 ms'
 */
export function judge(p99Ms: number, budgetMs: number, error?: string, kind: ProbeKind = 'read'): LatencyVerdict {
  const over = !(p99Ms <= budgetMs);
  const says = SAYS[kind];
  if (!Number.isFinite(p99Ms)) return { over, p99Ms, budgetMs, reason: `${says.failed}: ${error ?? 'no answer'}` };
  return { over, p99Ms, budgetMs, reason: `${says.p99} ${formatMs(p99Ms)} ms ${over ? '>' : '<='} budget ${formatMs(budgetMs)} ms` };
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

/** Milliseconds with two decimals at most, and none from 10 on: 4.1, 0.35, 12 (the reasons `status` shows). */
export function formatMs(ms: number): string {
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
