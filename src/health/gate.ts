import type { Pool } from 'pg';
import { HEALTHY, runCheck, type HealthCheck, type HealthVerdict } from './check';

/** Answers whether the database can take the next batch; see `createHealthGate`. */
export interface HealthGate {
  check(): Promise<HealthVerdict>;
}

/** Options of `createHealthGate`. */
export interface HealthGateOptions {
  /** How long a verdict is reused (default 250 ms), so checks do not dominate small batches. */
  cacheMs?: number;
  /** Per-check time limit (default 2 s); a check over it is unhealthy. */
  timeoutMs?: number;
  now?: () => number;
}

/**
 * Runs every check in parallel and answers the first unhealthy verdict in the checks' order, or
 * healthy. A verdict is reused for `cacheMs`, and concurrent callers (the chunks of one migration's
 * partitions) share one round of checks.
 * @example
 * const gate = createHealthGate(pool, healthChecks(table.quoted, definition.backfill));
 * const verdict = await gate.check(); // { healthy: false, kind: 'locks', reason: '1 backend blocked on "public"."posts"' }
 */
export function createHealthGate(pool: Pool, checks: HealthCheck[], options: HealthGateOptions = {}): HealthGate {
  const { cacheMs = 250, timeoutMs = 2000, now = Date.now } = options;
  let cached: { at: number; verdict: HealthVerdict } | undefined;
  let running: Promise<HealthVerdict> | undefined;
  const round = async (): Promise<HealthVerdict> => {
    const verdicts = await Promise.all(checks.map((c) => runCheck(c, pool, timeoutMs)));
    return verdicts.find((v) => !v.healthy) ?? HEALTHY;
  };
  return {
    check() {
      if (cached && now() - cached.at < cacheMs) return Promise.resolve(cached.verdict);
      running ??= round()
        .then((verdict) => ((cached = { at: now(), verdict }), verdict))
        .finally(() => (running = undefined));
      return running;
    },
  };
}
