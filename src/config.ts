import os from 'node:os';
import { parseDuration } from './contract/duration';
import type { RunSettings } from './contract/migration';

/** Connection and naming settings from the environment; no secret among them reaches Temporal. */
export interface FerryConfig {
  address: string;
  namespace: string;
  taskQueue: string;
}

/** `TEMPORAL_ADDRESS` (localhost:7233), `TEMPORAL_NAMESPACE` (default), `FERRY_TASK_QUEUE` (ferry). */
export function loadConfig(env = process.env): FerryConfig {
  return {
    address: env.TEMPORAL_ADDRESS || 'localhost:7233',
    namespace: env.TEMPORAL_NAMESPACE || 'default',
    taskQueue: env.FERRY_TASK_QUEUE || 'ferry',
  };
}

/** The workflow id of a migration. */
export function workflowId(name: string): string {
  return `migration/${name}`;
}

/**
 * Run settings: defaults suited to production, each overridable by an environment variable
 * (`FERRY_CHUNK`, `FERRY_HEARTBEAT_TIMEOUT`, `FERRY_PROBE_WINDOW`, `FERRY_HISTORY_LIMIT`), which
 * is how tests and demos make them seconds.
 */
export function runSettings(env = process.env): RunSettings {
  return {
    chunkMs: parseDuration(env.FERRY_CHUNK ?? '2m', 'FERRY_CHUNK'),
    heartbeatTimeoutMs: parseDuration(env.FERRY_HEARTBEAT_TIMEOUT ?? '30s', 'FERRY_HEARTBEAT_TIMEOUT'),
    probeWindowMs: parseDuration(env.FERRY_PROBE_WINDOW ?? '1m', 'FERRY_PROBE_WINDOW'),
    historyLimit: Number(env.FERRY_HISTORY_LIMIT ?? 2000),
  };
}

/** Who runs a command, for the audit trail: `--by`, else `$FERRY_USER`, else `user@host`. */
export function defaultActor(env = process.env): string {
  return env.FERRY_USER || `${env.USER || os.userInfo().username}@${os.hostname()}`;
}
