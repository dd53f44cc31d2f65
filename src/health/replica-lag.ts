import type { Pool } from 'pg';
import { formatDuration } from '../contract/duration';
import { HEALTHY, unhealthy, type HealthCheck, type HealthVerdict } from './check';

/**
 * The standbys streaming from this server and their replay lag in milliseconds. `state` is null
 * when the worker's role may not read the details (it needs pg_monitor or pg_read_all_stats).
 * Base backups (`state = 'backup'`) and stopping senders are not replicas to wait for.
 */
export const READ_REPLICAS = `SELECT COALESCE(NULLIF(application_name, ''), host(client_addr), 'pid ' || pid) AS standby,
       state, (EXTRACT(epoch FROM replay_lag) * 1000)::float8 AS lag_ms
  FROM pg_stat_replication
 WHERE state IS DISTINCT FROM 'backup' AND state IS DISTINCT FROM 'stopping'`;

interface Replica {
  standby: string;
  state: string | null;
  lag_ms: number | null;
}

/**
 * Unhealthy while a standby's `replay_lag` exceeds `maxLagMs` (`backfill.health.maxReplicaLag`,
 * default 5 s), while one is still catching up, or when the lag cannot be read (fail closed). No
 * standbys: healthy. A null lag on a streaming standby means it has caught up and is idle.
 * @example replicaLagCheck(5000) // reason: replica lag 7.2s > 5s on standby1
 */
export function replicaLagCheck(maxLagMs: number): HealthCheck {
  return {
    kind: 'replica_lag',
    label: 'replica lag check',
    async run(pool: Pool): Promise<HealthVerdict> {
      const replicas: Replica[] = (await pool.query(READ_REPLICAS)).rows;
      return judgeReplicas(replicas, maxLagMs);
    },
  };
}

function judgeReplicas(replicas: Replica[], maxLagMs: number): HealthVerdict {
  const hidden = replicas.filter((r) => r.state === null);
  if (hidden.length > 0) {
    return unhealthy('replica_lag', `replica lag unreadable on ${hidden.length} standby(s): grant pg_monitor to the worker's role`);
  }
  const starting = replicas.find((r) => r.state !== 'streaming');
  if (starting) return unhealthy('replica_lag', `standby ${starting.standby} is ${starting.state}, not streaming`);
  const worst = replicas.reduce<Replica | undefined>((w, r) => ((r.lag_ms ?? 0) > (w?.lag_ms ?? 0) ? r : w), undefined);
  if (!worst || (worst.lag_ms ?? 0) <= maxLagMs) return HEALTHY;
  const lag = `${((worst.lag_ms ?? 0) / 1000).toFixed(1)}s`;
  return unhealthy('replica_lag', `replica lag ${lag} > ${formatDuration(maxLagMs)} on ${worst.standby}`);
}
