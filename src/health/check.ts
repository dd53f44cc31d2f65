import type { Pool } from 'pg';

/**
 * A health check says whether the database can take more backfill load now. Checks fail closed:
 * one that errors or does not answer in time counts as unhealthy, with the error as its reason
 * (a throttler that cannot see the lag must not report 0; Shopify/lhm#155).
 */

/** What kind of signal throttled: the `reason_kind` label of `ferry_throttled_seconds_total`. */
export type HealthKind = 'locks' | 'replica_lag' | 'autovacuum' | 'user_check' | 'latency';

/** A check's answer. `reason` is a short text without row data, e.g. `replica lag 7.2s > 5s on standby1`. */
export type HealthVerdict = { healthy: true } | { healthy: false; kind: HealthKind; reason: string };

/** One check; `label` names it in reasons, e.g. `replica lag check` or `check "business-hours"`. */
export interface HealthCheck {
  kind: HealthKind;
  label: string;
  /** Answers; may throw. `timeoutMs` is for a server-side timeout (the caller also races it). */
  run(pool: Pool, timeoutMs: number): Promise<HealthVerdict>;
}

/** The verdict of a healthy check. */
export const HEALTHY: HealthVerdict = { healthy: true };

/** Longest reason kept; an error message could be long. */
const MAX_REASON = 200;

/** An unhealthy verdict, its reason cut to 200 characters. */
export function unhealthy(kind: HealthKind, reason: string): HealthVerdict {
  return { healthy: false, kind, reason: reason.length > MAX_REASON ? `${reason.slice(0, MAX_REASON - 1)}…` : reason };
}

/**
 * Runs `check` for at most `timeoutMs`; an error or a timeout is an unhealthy verdict naming the
 * check (fail closed).
 * @example await runCheck(replicaLagCheck(5000), pool, 2000) // { healthy: true } without replicas
 */
export async function runCheck(check: HealthCheck, pool: Pool, timeoutMs: number): Promise<HealthVerdict> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([check.run(pool, timeoutMs), timeout]);
  } catch (err) {
    return unhealthy(check.kind, `${check.label} failed: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    clearTimeout(timer);
  }
}

/** `current_database()`'s oid, for filtering pg_locks and progress views (oids repeat across databases). */
export const CURRENT_DB_OID = `(SELECT oid FROM pg_database WHERE datname = current_database())`;
