import type { HealthGate } from '../health/gate';
import type { HealthVerdict } from '../health/check';

/** An unhealthy verdict. */
export type Unhealthy = Extract<HealthVerdict, { healthy: false }>;

/** How a chunk waits for health: re-checks back off from `initialMs` to `maxMs`, doubling. */
export interface ThrottleBackoff {
  /** First wait after an unhealthy verdict (default 1 s). */
  initialMs: number;
  /** Longest wait between checks (default 30 s). */
  maxMs: number;
  /** Waits are cut into slices this long (default 1 s) to heartbeat and notice a stop request. */
  sliceMs: number;
}

/** Defaults of `ThrottleBackoff`. */
export const DEFAULT_BACKOFF: ThrottleBackoff = { initialMs: 1000, maxMs: 30_000, sliceMs: 1000 };

/** What `waitUntilHealthy` needs from the chunk. */
export interface ThrottleHooks {
  gate: HealthGate;
  /** Sleeps; rejects when the activity is cancelled. */
  sleep(ms: number): Promise<void>;
  /** The chunk's time left. */
  remainingMs(): number;
  /** Whether the migration asked its chunks to stop (pause, abort). */
  stopRequested(): Promise<boolean>;
  /** Called after every slice waited: add to throttled time, heartbeat, count in metrics. */
  onWait(ms: number, verdict: Unhealthy): void;
}

/** Why `waitUntilHealthy` returned. */
export type ThrottleOutcome = 'healthy' | 'time' | 'stop-requested';

/**
 * Waits until the gate says healthy, re-checking with backoff; returns early when the chunk's time
 * is up or a stop is requested. Returns at once, without waiting, when the first check is healthy.
 * @example
 * const outcome = await waitUntilHealthy({ gate, sleep, remainingMs, stopRequested, onWait });
 * if (outcome !== 'healthy') return outcome === 'time' ? 'time' : 'stop-requested';
 */
export async function waitUntilHealthy(hooks: ThrottleHooks, backoff: ThrottleBackoff = DEFAULT_BACKOFF): Promise<ThrottleOutcome> {
  let verdict = await hooks.gate.check();
  let delay = backoff.initialMs;
  while (!verdict.healthy) {
    const early = await waitSlices(hooks, delay, verdict, backoff.sliceMs);
    if (early) return early;
    verdict = await hooks.gate.check();
    delay = Math.min(delay * 2, backoff.maxMs);
  }
  return 'healthy';
}

/** Waits `ms` in slices, reporting each; 'time' or 'stop-requested' when the wait must end early. */
async function waitSlices(hooks: ThrottleHooks, ms: number, verdict: Unhealthy, sliceMs: number): Promise<ThrottleOutcome | undefined> {
  for (let left = ms; left > 0;) {
    const slice = Math.min(sliceMs, left, hooks.remainingMs());
    if (slice <= 0) return 'time';
    const t0 = Date.now();
    await hooks.sleep(slice);
    hooks.onWait(Date.now() - t0, verdict);
    left -= slice;
    if (await hooks.stopRequested()) return 'stop-requested';
  }
  return undefined;
}
