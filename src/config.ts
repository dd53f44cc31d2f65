import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
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
 * (`FERRY_CHUNK`, `FERRY_HEARTBEAT_TIMEOUT`, `FERRY_PROBE_WINDOW`, `FERRY_HISTORY_LIMIT`, `FERRY_WAIT_POLL`), which
 * is how tests and demos make them seconds.
 */
export function runSettings(env = process.env): RunSettings {
  return {
    chunkMs: parseDuration(env.FERRY_CHUNK ?? '2m', 'FERRY_CHUNK'),
    heartbeatTimeoutMs: parseDuration(env.FERRY_HEARTBEAT_TIMEOUT ?? '30s', 'FERRY_HEARTBEAT_TIMEOUT'),
    probeWindowMs: parseDuration(env.FERRY_PROBE_WINDOW ?? '1m', 'FERRY_PROBE_WINDOW'),
    historyLimit: Number(env.FERRY_HISTORY_LIMIT ?? 2000),
    waitPollMs: parseDuration(env.FERRY_WAIT_POLL ?? '1m', 'FERRY_WAIT_POLL'),
  };
}

/** Who runs a command, for the audit trail: `--by`, else `$FERRY_USER`, else `user@host`. */
export function defaultActor(env = process.env): string {
  return env.FERRY_USER || `${env.USER || os.userInfo().username}@${os.hostname()}`;
}

/** Where `ferry dev` records the dev server it started (its address and Web UI), for the links of other commands. */
export const DEV_SERVER_FILE = path.join('.ferry', 'dev-server.json');

/** The dev server `ferry dev` started, as recorded in `file`. */
interface DevServerRecord {
  address: string;
  uiUrl: string;
}

const LOCAL_HOSTS = new Set(['localhost', '127.0.0.1', '::1', '[::1]', '0.0.0.0']);

/** `host:port` → host, lower case (`[::1]:7233` → `[::1]`). */
function hostOf(address: string): string {
  const i = address.lastIndexOf(':');
  return (i > 0 && !address.endsWith(']') ? address.slice(0, i) : address).toLowerCase();
}

/** `host:port` → port, or undefined. */
function portOf(address: string): string | undefined {
  return /:(\d+)$/.exec(address)?.[1];
}

/**
 * The base URL of the Temporal Web UI for the server at `address`, or undefined when ferry cannot
 * know it: `FERRY_UI_URL` when set; Temporal Cloud's UI for `*.tmprl.cloud`; the UI of the dev
 * server that `ferry dev` started at that address (recorded in `.ferry/dev-server.json`); the dev
 * server's default UI (port 8233) for any other local address.
 * @example webUiBase('acme.a1b2c.tmprl.cloud:7233', {}) // 'https://cloud.temporal.io'
 */
export function webUiBase(address: string, env = process.env, file = DEV_SERVER_FILE): string | undefined {
  if (env.FERRY_UI_URL) return env.FERRY_UI_URL.replace(/\/+$/, '');
  const host = hostOf(address);
  if (host.endsWith('.tmprl.cloud')) return 'https://cloud.temporal.io';
  if (!LOCAL_HOSTS.has(host)) return undefined;
  const dev = readDevServer(file);
  if (dev && LOCAL_HOSTS.has(hostOf(dev.address)) && portOf(dev.address) === portOf(address)) return dev.uiUrl;
  return `http://${host === '0.0.0.0' ? 'localhost' : host}:8233`;
}

function readDevServer(file: string): DevServerRecord | undefined {
  try {
    const record = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<DevServerRecord>;
    return typeof record.address === 'string' && typeof record.uiUrl === 'string' ? (record as DevServerRecord) : undefined;
  } catch {
    return undefined;
  }
}

/** Records the dev server `ferry dev` started (see `webUiBase`); `undefined` removes the record. */
export function recordDevServer(record: DevServerRecord | undefined, file = DEV_SERVER_FILE): void {
  if (record === undefined) {
    fs.rmSync(file, { force: true });
    return;
  }
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify(record, null, 2)}\n`);
}
