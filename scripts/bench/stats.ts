/** Percentiles of plain sample arrays, and per-second series for the chart. */

/** The `q` quantile (0..1) of `values` by nearest rank; 0 for no values. @example percentile([1, 2, 3, 4], 0.5) === 2 */
export function percentile(values: ArrayLike<number>, q: number): number {
  if (values.length === 0) return 0;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1];
}

/** The median (p50 by nearest rank). */
export function median(values: ArrayLike<number>): number {
  return percentile(values, 0.5);
}

/** A point of a time series: seconds since the phase began, and a value. */
export interface Point {
  t: number;
  v: number;
}

/** Rounds to `digits` decimals, for the JSON. */
export function round(value: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/**
 * Groups timed values into 1-second buckets from `startMs` to `endMs` and reduces each non-empty
 * bucket with `reduce`, e.g. the p99 of the latencies that ended in that second.
 */
export function perSecond<T>(
  items: T[],
  timeOf: (item: T) => number,
  startMs: number,
  endMs: number,
  reduce: (bucket: T[]) => number,
): Point[] {
  const buckets = new Map<number, T[]>();
  for (const item of items) {
    const t = timeOf(item);
    if (t < startMs || t >= endMs) continue;
    const second = Math.floor((t - startMs) / 1000);
    const bucket = buckets.get(second);
    if (bucket) bucket.push(item);
    else buckets.set(second, [item]);
  }
  return [...buckets.entries()].sort(([a], [b]) => a - b).map(([second, bucket]) => ({ t: second + 0.5, v: reduce(bucket) }));
}

/**
 * Rows per second in 1-second buckets from [startMs, endMs): `events` are rows that became done at
 * `atMs`. The last, partial bucket is divided by the part of the second it covers.
 */
export function ratePerSecond(events: { atMs: number; rows: number }[], startMs: number, endMs: number): Point[] {
  const sums = perSecond(
    events,
    (e) => e.atMs,
    startMs,
    endMs + 1,
    (b) => b.reduce((sum, e) => sum + e.rows, 0),
  );
  return sums.map((p) => {
    const bucketStart = startMs + (p.t - 0.5) * 1000;
    const covered = Math.min(1, Math.max(0.05, (endMs - bucketStart) / 1000));
    return { t: p.t, v: p.v / covered };
  });
}

/**
 * Rows per second between consecutive polls of a cumulative count, clipped to the window
 * [startMs, endMs] outside which no row is done: exact rates, one point per poll interval.
 */
export function rateBetweenPolls(samples: { atMs: number; total: number }[], startMs: number, endMs: number): Point[] {
  const points: Point[] = [];
  for (let i = 1; i < samples.length; i++) {
    const from = Math.max(samples[i - 1].atMs, startMs);
    const to = Math.min(samples[i].atMs, endMs);
    if (to - from < 500) continue; // outside the window, or a sliver of it (one big batch would read as a spike)
    points.push({ t: ((from + to) / 2 - startMs) / 1000, v: ((samples[i].total - samples[i - 1].total) * 1000) / (to - from) });
  }
  return points;
}

/**
 * The indexes `0..n-1` in the order round `r` runs them: rotated by `r`, so that no arm always runs
 * first or last. @example rotation(3, 1) // [1, 2, 0]
 */
export function rotation(n: number, r: number): number[] {
  return Array.from({ length: n }, (_, k) => (k + r) % n);
}
