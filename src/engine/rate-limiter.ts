/**
 * Token buckets for `backfill.rateLimit.perSecond`: `process` calls `ctx.rateLimit()` once per
 * external call, and it resolves when the call is allowed. The backfill's limit is shared by the
 * migration's workers through PostgreSQL (`sharedRateLimiter`); `createRateLimiter` is the bucket
 * of one process. Written here rather than taken from npm: they are short, they must give up
 * waiting when the activity is cancelled, and the shared one keeps its bucket in ferry's own
 * store, which the popular limiters (Redis- or framework-bound) do not offer.
 */

/** Waits until the next call is allowed; rejects with `signal.reason` when `signal` aborts. */
export type RateLimit = (signal?: AbortSignal) => Promise<void>;

/** Options of `createRateLimiter`; `now` is for tests. */
export interface RateLimiterOptions {
  /** Calls that may go at once after a quiet spell (default 1: evenly spaced calls). */
  burst?: number;
  now?: () => number;
}

/**
 * A token bucket refilled at `perSecond` tokens a second, holding at most `burst`. Waiters are
 * served in call order. Without `perSecond` it never waits.
 * @example
 * const limit = createRateLimiter(20); // 20 calls a second
 * for (const row of rows) { await limit(signal); await api.post(row); }
 */
export function createRateLimiter(perSecond?: number, options: RateLimiterOptions = {}): RateLimit {
  if (perSecond === undefined) return async () => undefined;
  if (!(perSecond > 0)) throw new Error(`rateLimit.perSecond "${perSecond}" must be a positive number.`);
  const now = options.now ?? Date.now;
  const burst = Math.max(1, options.burst ?? 1);
  const interval = 1000 / perSecond;
  // GCRA form of the bucket: `due` is when the bucket would be full again after the calls so far;
  // a call may go once `due - burst * interval` has passed.
  let due = now();
  return async (signal) => {
    const t = now();
    due = Math.max(due, t) + interval;
    const wait = due - burst * interval - t;
    if (wait > 0) await abortableDelay(wait, signal);
    else signal?.throwIfAborted();
  };
}

/**
 * Reserves `calls` calls of a budget shared with other processes; resolves to the milliseconds to
 * wait before the first of them (`reserveCalls` of src/store/rate-budgets.ts).
 */
export type ReserveCalls = (calls: number) => Promise<number>;

/**
 * A rate limit whose budget is shared by every process that reserves from the same place (for
 * the backfill: the migration's row in `ferry.rate_budgets`), so `perSecond` holds for the
 * migration however many workers run it. Calls are reserved a tenth of a second's worth at a time
 * (one round trip per block, not per call) and spaced evenly within the block.
 * @example
 * const limit = sharedRateLimiter((n) => reserveCalls(pool, 'services-extract-url', { calls: n, perSecond: 20, burst: 1 }), 20);
 * await limit(signal); await api.post(row);
 */
export function sharedRateLimiter(reserve: ReserveCalls, perSecond: number, now: () => number = Date.now): RateLimit {
  if (!(perSecond > 0)) throw new Error(`rateLimit.perSecond "${perSecond}" must be a positive number.`);
  const interval = 1000 / perSecond;
  const block = Math.max(1, Math.floor(perSecond / 10));
  const slots: number[] = []; // when each reserved call may go, epoch ms
  let refilling: Promise<void> | undefined;
  const refill = async (): Promise<void> => {
    const t = now();
    const waitMs = await reserve(block);
    for (let i = 0; i < block; i++) slots.push(t + waitMs + i * interval);
  };
  return async (signal) => {
    while (slots.length === 0) {
      signal?.throwIfAborted();
      await (refilling ??= refill().finally(() => (refilling = undefined)));
    }
    const wait = slots.shift()! - now();
    if (wait > 0) await abortableDelay(wait, signal);
    else signal?.throwIfAborted();
  };
}

/** Resolves after `ms`, or rejects with `signal.reason` as soon as `signal` aborts. */
export function abortableDelay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
