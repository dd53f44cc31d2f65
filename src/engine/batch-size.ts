/**
 * Batch sizes for the backfill. A batch is one transaction: the longer it runs, the longer it holds
 * row locks that the application's writes queue behind. So the default sizer aims every batch at a
 * target duration (GitLab's batch optimizer, Spirit's chunker): it learns the cost of a row from the
 * recent batches and sizes the next one to take `targetMs`, growing at most ×1.5 a step and halving
 * at once when a batch runs long or times out. A batch that blocked other sessions (they waited for
 * its row locks) halves the size too and caps it with a ceiling that relaxes slowly while batches
 * run uncontended, so under application writes batches stay short and at idle grow back to the target.
 */

/**
 * Chooses the size of each batch. `createBackfillActivities` uses `adaptiveBatchSizer` unless
 * `BackfillOptions.batchSizer` says otherwise.
 */
export interface BatchSizer {
  /** Rows in the next batch. Called for heartbeats too, so it must not change the sizer's state. */
  next(): number;
  /**
   * How the last batch went: its duration, rows scanned, whether it hit a lock or statement
   * timeout, and how many other sessions were waiting for its locks when it finished (0 or absent: none).
   */
  observe(ms: number, rows: number, timedOut: boolean, blocked?: number): void;
  /**
   * Aims the following sizes at `targetMs` instead of the target it was made with (the latency
   * budget's first stage aims the transaction sizer; src/engine/duty-cycle.ts). Optional.
   */
  aim?(targetMs: number): void;
}

/** A sizer that always answers `size`. @example fixedBatchSizer(1000).next() === 1000 */
export function fixedBatchSizer(size: number): BatchSizer {
  return { next: () => size, observe: () => undefined };
}

/** Settings of `adaptiveBatchSizer`; see `backfillTuning` for where they come from. */
export interface AdaptiveSizerSettings {
  /** The first batch's size. */
  start: number;
  /** The batch duration to aim at, in milliseconds. */
  targetMs: number;
  min: number;
  max: number;
  /** Largest growth factor per batch (default 1.5). */
  growth?: number;
  /** Factor applied after a timeout or a batch longer than twice the target (default 0.5). */
  shrink?: number;
  /** Batches whose cost per row is smoothed (median; default 5). */
  window?: number;
  /** Milliseconds of uncontended batches in which the contention ceiling doubles (default 2000). */
  relaxMs?: number;
}

/**
 * A controller that sizes batches to take `targetMs`. The cost of a row is the median of the last
 * `window` batches' milliseconds per row, so one slow batch does not swing it; the next size is
 * `targetMs / cost`, at most `growth` times the current size, clamped to `min..max`. A timeout or
 * a batch over twice the target multiplies the size by `shrink` at once. A short batch (the end of
 * the range, or one capped by pacing) still tells the cost of a row, so it counts like any other.
 *
 * A batch that blocked `blocked > 0` sessions is contended: the size is multiplied by `shrink` and
 * becomes a ceiling (see `contentionCeiling`) that doubles per `relaxMs` of uncontended batches.
 * Under steady application writes this settles near the size at which a batch blocks someone about
 * once per `relaxMs`, so locks are held for milliseconds rather than the target.
 *
 * With a fixed cost per batch `a` and per row `b`, the size converges to where `a + b·size` equals
 * the target (whenever `a` is below the target).
 *
 * @example
 * const sizer = adaptiveBatchSizer({ start: 1000, targetMs: 200, min: 10, max: 50_000 });
 * sizer.observe(20, 1000, false); // 0.02 ms a row: the next batch may grow to 1500
 * sizer.next(); // 1500
 */
export function adaptiveBatchSizer(settings: AdaptiveSizerSettings): BatchSizer {
  const s = { growth: 1.5, shrink: 0.5, window: 5, relaxMs: 2000, ...settings };
  const clamp = (n: number) => Math.max(s.min, Math.min(s.max, Math.round(n)));
  const costs: number[] = [];
  const ceiling = contentionCeiling(s.max, s.relaxMs);
  let size = clamp(s.start);
  return {
    next: () => size,
    observe(ms, rows, timedOut, blocked = 0) {
      if (rows > 0 && !timedOut) remember(costs, ms / rows, s.window);
      if (blocked > 0) {
        size = clamp(size * s.shrink);
        ceiling.lower(size);
      } else if (timedOut || ms > 2 * s.targetMs) {
        ceiling.relax(ms);
        size = clamp(size * s.shrink);
      } else if (rows > 0) {
        ceiling.relax(ms);
        const ideal = s.targetMs / Math.max(medianOf(costs), 1e-6);
        size = clamp(Math.min(ideal, size * s.growth, ceiling.value()));
      }
    },
    aim(targetMs) {
      const lower = targetMs < s.targetMs;
      s.targetMs = targetMs;
      // A lower target takes effect at once; a higher one grows the size batch by batch.
      if (lower && costs.length > 0) size = clamp(Math.min(size, targetMs / Math.max(medianOf(costs), 1e-6)));
    },
  };
}

/**
 * The cap that contention puts on batch sizes: `lower(n)` sets it to `n` after a batch that blocked
 * someone; `relax(ms)` raises it ×2 per `relaxMs` of uncontended batch time, and lifts it once it
 * passes `max`. Without contention it is Infinity.
 */
export function contentionCeiling(max: number, relaxMs: number) {
  let cap = Infinity;
  return {
    value: () => cap,
    lower(n: number) {
      cap = Math.min(cap, n);
    },
    relax(ms: number) {
      if (cap === Infinity) return;
      cap *= 2 ** (Math.max(ms, 0) / relaxMs);
      if (cap >= max) cap = Infinity;
    },
  };
}

/** Appends `value`, keeping the last `window` values. */
function remember(values: number[], value: number, window: number): void {
  values.push(value);
  if (values.length > window) values.shift();
}

function medianOf(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
