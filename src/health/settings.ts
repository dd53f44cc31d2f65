import type { MigrationDefinition } from '../definition/define';
import { parseDuration } from '../contract/duration';
import { autovacuumCheck } from './autovacuum';
import { blockedBackendsCheck } from './blocked-backends';
import type { HealthCheck } from './check';
import { replicaLagCheck } from './replica-lag';
import { userCheck } from './user-check';

/**
 * `backfill.health` with defaults filled in (here rather than in the schema, so that definitions
 * without it keep their spec hash).
 */
export interface HealthSettings {
  /** `maxReplicaLag`, default '5s'. */
  maxReplicaLagMs: number;
  /** `maxBlockedBackends`, default 0: any backend blocked on the table throttles. */
  maxBlockedBackends: number;
  /** `autovacuum`, default true: wait while (auto)vacuum runs on the table. */
  autovacuum: boolean;
  checks: NonNullable<NonNullable<MigrationDefinition['backfill']['health']>['checks']>;
}

/** Defaults of `backfill.health`. */
export const HEALTH_DEFAULTS = { maxReplicaLag: '5s', maxBlockedBackends: 0, autovacuum: true } as const;

/** Fills in the defaults of `backfill.health`. @example healthSettings(definition.backfill).maxReplicaLagMs // 5000 */
export function healthSettings(backfill: MigrationDefinition['backfill']): HealthSettings {
  const h = backfill.health ?? {};
  return {
    maxReplicaLagMs: parseDuration(h.maxReplicaLag ?? HEALTH_DEFAULTS.maxReplicaLag, 'backfill.health.maxReplicaLag'),
    maxBlockedBackends: h.maxBlockedBackends ?? HEALTH_DEFAULTS.maxBlockedBackends,
    autovacuum: h.autovacuum ?? HEALTH_DEFAULTS.autovacuum,
    checks: h.checks ?? [],
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
