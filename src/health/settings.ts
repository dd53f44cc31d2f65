import type { MigrationDefinition } from '../definition/define';
import { parseDuration } from '../contract/duration';
import { autovacuumCheck } from './autovacuum';
import { blockedBackendsCheck } from './blocked-backends';
import type { HealthCheck } from './check';
import { replicaLagCheck } from './replica-lag';
import { userCheck } from './user-check';

/** `backfill.health` in the units the checks use (its defaults live in the definition schema). */
export interface HealthSettings {
  maxReplicaLagMs: number;
  maxBlockedBackends: number;
  autovacuum: boolean;
  checks: MigrationDefinition['backfill']['health']['checks'];
}

/** @example healthSettings(definition.backfill).maxReplicaLagMs // 5000 */
export function healthSettings(backfill: MigrationDefinition['backfill']): HealthSettings {
  const h = backfill.health;
  return {
    maxReplicaLagMs: parseDuration(h.maxReplicaLag, 'backfill.health.maxReplicaLag'),
    maxBlockedBackends: h.maxBlockedBackends,
    autovacuum: h.autovacuum,
    checks: h.checks,
  };
}

/**
 * The checks run before each batch on `quotedTable`, in the order their reasons are preferred:
 * blocked backends, replica lag, autovacuum (unless turned off), then the author's checks.
 * @example healthChecks('"public"."posts"', definition.backfill).map((c) => c.label)
 */
export function healthChecks(quotedTable: string, backfill: MigrationDefinition['backfill']): HealthCheck[] {
  const s = healthSettings(backfill);
  return [
    blockedBackendsCheck(quotedTable, s.maxBlockedBackends),
    replicaLagCheck(s.maxReplicaLagMs),
    ...(s.autovacuum ? [autovacuumCheck(quotedTable)] : []),
    ...s.checks.map(userCheck),
  ];
}
