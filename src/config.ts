import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseDuration } from './contract/duration';
import type { RunSettings } from './contract/migration';
import { FerryError } from './contract/errors';
import { loadClientConfig, loadClientConfigProfile, type ClientConfigProfile } from '@temporalio/envconfig';

/**
 * Connection and naming settings. `address` and `namespace` come from Temporal's own environment
 * configuration (see `loadTemporalProfile`); `temporal` is the whole profile, which may hold an API
 * key and TLS key data: never log it, never put it in a workflow input (`describeConnection` in
 * src/client/connect.ts says what is safe to print).
 */
export interface FerryConfig {
  address: string;
  namespace: string;
  taskQueue: string;
  temporal: TemporalProfile;
}

/** The Temporal connection profile ferry resolved, and where its settings came from. */
export interface TemporalProfile {
  /** The profile's settings, environment variables applied on top (secrets inside). */
  settings: ClientConfigProfile;
  /** `TEMPORAL_PROFILE`, else `default`. */
  name: string;
  /** The `temporal.toml` read, when there was one. */
  configFile?: string;
  /** The `TEMPORAL_*` variables it was read with: error messages name the variable that set a value. */
  env: Record<string, string | undefined>;
}

/**
 * Settings from the environment: the Temporal connection exactly as the Temporal CLI and SDKs read
 * it (`TEMPORAL_ADDRESS`, `TEMPORAL_NAMESPACE`, `TEMPORAL_API_KEY`, `TEMPORAL_TLS*`, over the
 * `TEMPORAL_PROFILE` profile of `TEMPORAL_CONFIG_FILE` or ~/.config/temporalio/temporal.toml;
 * defaults localhost:7233 and `default`) and `FERRY_TASK_QUEUE` (ferry).
 * @throws FerryError BAD_INPUT for a config file that is missing or not TOML, or a profile it lacks.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): FerryConfig {
  const temporal = loadTemporalProfile(env);
  const config = {
    address: temporal.settings.address || 'localhost:7233',
    namespace: temporal.settings.namespace || 'default',
    taskQueue: env.FERRY_TASK_QUEUE || 'ferry',
  };
  // Not enumerable: printing or serializing the config can never show the key or TLS data.
  return Object.defineProperty(config, 'temporal', { value: temporal, enumerable: false }) as FerryConfig;
}

/**
 * The file the Temporal CLI reads its profiles from: `TEMPORAL_CONFIG_FILE`, else
 * `$XDG_CONFIG_HOME/temporalio/temporal.toml` (`~/.config/...`; `~/Library/Application Support/...` on macOS).
 */
export function temporalConfigFile(env: Record<string, string | undefined> = process.env): string | undefined {
  if (env.TEMPORAL_CONFIG_FILE) return env.TEMPORAL_CONFIG_FILE;
  if (process.platform === 'win32') return env.APPDATA ? path.join(env.APPDATA, 'temporalio', 'temporal.toml') : undefined;
  const home = env.HOME;
  if (process.platform === 'darwin')
    return home ? path.join(home, 'Library', 'Application Support', 'temporalio', 'temporal.toml') : undefined;
  const xdg = env.XDG_CONFIG_HOME && path.isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : home && path.join(home, '.config');
  return xdg ? path.join(xdg, 'temporalio', 'temporal.toml') : undefined;
}

/**
 * Reads the Temporal profile with `@temporalio/envconfig` (the loader the Temporal SDKs share), so
 * one `temporal.toml` profile serves `temporal` and `ferry` alike. Stricter than the loader in one
 * place: a `TEMPORAL_CONFIG_FILE` that does not exist is an error, not an empty file.
 * @example loadTemporalProfile({ TEMPORAL_CONFIG_FILE: '/etc/temporal.toml', TEMPORAL_PROFILE: 'prod' })
 */
export function loadTemporalProfile(env: Record<string, string | undefined> = process.env): TemporalProfile {
  const file = temporalConfigFile(env);
  const name = env.TEMPORAL_PROFILE || 'default';
  const exists = file !== undefined && fs.existsSync(file);
  if (env.TEMPORAL_CONFIG_FILE && !exists) {
    throw new FerryError(
      'BAD_INPUT',
      `the Temporal config file "${env.TEMPORAL_CONFIG_FILE}" (TEMPORAL_CONFIG_FILE) does not exist; ` +
        'fix the path, or unset TEMPORAL_CONFIG_FILE to use TEMPORAL_ADDRESS and the other TEMPORAL_* variables alone.',
    );
  }
  // An empty variable is an unset one: a CI secret that is not defined expands to '' (GitHub Actions, GitLab),
  // and TEMPORAL_API_KEY='' must not turn TLS on.
  const overrideEnvVars = Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined && e[1] !== ''));
  let settings: ClientConfigProfile;
  try {
    if (!exists && env.TEMPORAL_PROFILE) throw new Error(`Profile '${name}' not found`);
    settings = loadClientConfigProfile({ overrideEnvVars, ...(exists ? { configSource: { path: file } } : { disableFile: true }) });
  } catch (err) {
    throw profileError(err as Error, name, exists ? file : undefined, overrideEnvVars);
  }
  const temporalEnv = Object.fromEntries(Object.entries(env).filter(([key]) => key.startsWith('TEMPORAL_')));
  return { settings, name, configFile: exists ? file : undefined, env: temporalEnv };
}

/** What went wrong reading the profile, naming the file, the profile and the next step. */
function profileError(err: Error, name: string, file: string | undefined, env: Record<string, string>): FerryError {
  if (/Profile '.*' not found/.test(err.message)) {
    const found = file ? Object.keys(loadClientConfig({ configSource: { path: file }, overrideEnvVars: env }).profiles) : [];
    const next = file
      ? `set TEMPORAL_PROFILE to one of its profiles, or create it with`
      : `set TEMPORAL_CONFIG_FILE to the file that has it, unset TEMPORAL_PROFILE, or create it with`;
    const where = file
      ? `the Temporal config file "${file}" has no profile "${name}" (found: ${found.join(', ') || 'none'})`
      : `there is no Temporal config file (looked for ${temporalConfigFile(env) ?? 'TEMPORAL_CONFIG_FILE'})`;
    return new FerryError(
      'BAD_INPUT',
      `TEMPORAL_PROFILE="${name}", but ${where}; ${next} "temporal config set --profile ${name} --prop address --value <host:port>".`,
    );
  }
  const fileName = file
    ? `the Temporal config file "${file}"${env.TEMPORAL_CONFIG_FILE ? ' (TEMPORAL_CONFIG_FILE)' : ''}`
    : 'the Temporal settings';
  return new FerryError(
    'BAD_INPUT',
    `${fileName} cannot be read: ${err.message.replace(/\s+/g, ' ').trim()}; fix it ("temporal config get --profile ${name}" shows what the Temporal CLI reads).`,
  );
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

/**
 * Who runs a command, for the audit trail, when `--by` is not given: `$FERRY_USER`, else the
 * identity of the caller's credentials when they prove one (a certificate subject, an API key's),
 * else `user@host`. The identity itself is recorded beside it either way.
 * @example defaultActor({}, { identity: 'CN=bob', proof: 'mtls' }) // 'CN=bob'
 */
export function defaultActor(env: Record<string, string | undefined> = process.env, caller?: { identity: string; proof: string }): string {
  if (env.FERRY_USER) return env.FERRY_USER;
  if (caller && caller.proof !== 'none') return caller.identity;
  return `${env.USER || os.userInfo().username}@${os.hostname()}`;
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
 * server's default UI (port 8233) for a local server on the dev server's default port 7233. Any other
 * local server (a production-shaped one on a port of its own) has no UI ferry could know of: no link.
 * @example webUiBase('acme.a1b2c.tmprl.cloud:7233', {}) // 'https://cloud.temporal.io'
 */
export function webUiBase(address: string, env = process.env, file = DEV_SERVER_FILE): string | undefined {
  if (env.FERRY_UI_URL) return env.FERRY_UI_URL.replace(/\/+$/, '');
  const host = hostOf(address);
  if (host.endsWith('.tmprl.cloud')) return 'https://cloud.temporal.io';
  if (!LOCAL_HOSTS.has(host)) return undefined;
  const dev = readDevServer(file);
  if (dev && LOCAL_HOSTS.has(hostOf(dev.address)) && portOf(dev.address) === portOf(address)) return dev.uiUrl;
  return portOf(address) === '7233' ? `http://${host === '0.0.0.0' ? 'localhost' : host}:8233` : undefined;
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
