/**
 * How ferry connects to Temporal: one function (`temporalConnectionOptions`) turns the profile of
 * src/config.ts (Temporal's own environment configuration) into the options that both the CLI's
 * `Connection.connect` and the worker's `NativeConnection.connect` take.
 */
import fs from 'node:fs';
import { Client, Connection, type TLSConfig } from '@temporalio/client';
import { toClientOptions, type ClientConfigTLS, type ConfigDataSource } from '@temporalio/envconfig';
import { FerryError } from '../contract/errors';
import { loadConfig, type FerryConfig, type TemporalProfile } from '../config';
import { callerIdentity, certificateSubject, type CallerIdentity } from './identity';

/** A Temporal client for ferry's commands. */
export interface FerryClient {
  client: Client;
  config: FerryConfig;
  /** Who the caller is, from the credentials it connected with (also the client's Temporal `identity`). */
  caller: CallerIdentity;
  close(): Promise<void>;
}

/** What `Connection.connect` (client) and `NativeConnection.connect` (worker) both take. Holds secrets: never log it. */
export interface TemporalConnectionOptions {
  address: string;
  tls?: TLSConfig | boolean;
  apiKey?: string;
  metadata?: Record<string, string>;
}

/** What ferry connects with, safe to print: no key, no certificate data. */
export interface ConnectionSummary {
  address: string;
  namespace: string;
  profile: string;
  configFile?: string;
  tls: boolean;
  /** The subject of the mTLS client certificate. */
  clientCert?: string;
  serverName?: string;
  serverCa: boolean;
  apiKey: boolean;
  identity: string;
}

/** The resolved connection: options to connect with, the caller's identity, and a printable summary. */
export interface ResolvedConnection {
  options: TemporalConnectionOptions;
  caller: CallerIdentity;
  summary: ConnectionSummary;
}

/** The three TLS files, with their environment variable and TOML key. */
const TLS_FILES = [
  { key: 'clientCert', env: 'TEMPORAL_TLS_CLIENT_CERT', toml: 'client_cert' },
  { key: 'clientKey', env: 'TEMPORAL_TLS_CLIENT_KEY', toml: 'client_key' },
  { key: 'serverCACert', env: 'TEMPORAL_TLS_SERVER_CA_CERT', toml: 'server_ca_cert' },
] as const;

/** Where a TLS setting came from, for messages: the variable, or the key in temporal.toml. */
function sourceName(p: TemporalProfile, file: (typeof TLS_FILES)[number], kind: 'path' | 'data'): string {
  const variable = `${file.env}_${kind.toUpperCase()}`;
  if (p.env[variable] !== undefined) return variable;
  return `profile.${p.name}.tls.${file.toml}_${kind} of "${p.configFile ?? 'temporal.toml'}" (TEMPORAL_PROFILE=${p.name})`;
}

/** Reads a TLS file given by path, naming the setting and the next step when it cannot. */
function readTlsSource(p: TemporalProfile, file: (typeof TLS_FILES)[number], src: ConfigDataSource): ConfigDataSource {
  if (!('path' in src)) return src;
  try {
    return { data: fs.readFileSync(src.path) };
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : `cannot be read (${(err as Error).message})`;
    throw new FerryError(
      'BAD_INPUT',
      `the file "${src.path}" of ${sourceName(p, file, 'path')} ${why}; fix the path, or give the PEM itself in ${file.env}_DATA.`,
    );
  }
}

/** The profile's TLS settings with every file read, checked: a certificate needs its key and vice versa. */
function resolveTls(p: TemporalProfile): { tls?: ClientConfigTLS; clientCertSubject?: string } {
  const tls = p.settings.tls;
  if (tls === undefined) return {};
  if (tls.disabled) return { tls: { disabled: true } }; // TEMPORAL_TLS=false: no file is read
  if (/^(1|true)$/.test(p.env.TEMPORAL_TLS_DISABLE_HOST_VERIFICATION ?? '')) {
    throw new FerryError(
      'BAD_INPUT',
      "TEMPORAL_TLS_DISABLE_HOST_VERIFICATION is set, but the Temporal TypeScript SDK that ferry runs on always verifies the server's name; " +
        "unset it and set TEMPORAL_TLS_SERVER_NAME to the name in the server's certificate instead.",
    );
  }
  if (Boolean(tls.clientCert) !== Boolean(tls.clientKey)) {
    const [has, lacks] = tls.clientCert ? TLS_FILES : [TLS_FILES[1], TLS_FILES[0]];
    throw new FerryError(
      'BAD_INPUT',
      `${has.env}_PATH (or _DATA, or tls.${has.toml}_path in temporal.toml) is set but ${lacks.env}_PATH (or _DATA) is not: ` +
        'mTLS needs both the client certificate and its key; set the other one.',
    );
  }
  const resolved: ClientConfigTLS = { ...tls };
  for (const file of TLS_FILES) {
    const src = tls[file.key];
    if (src) resolved[file.key] = readTlsSource(p, file, src);
  }
  const cert = resolved.clientCert;
  if (!cert || !('data' in cert)) return { tls: resolved };
  const source = sourceName(p, TLS_FILES[0], tls.clientCert && 'path' in tls.clientCert ? 'path' : 'data');
  return {
    tls: resolved,
    clientCertSubject: certificateSubject(typeof cert.data === 'string' ? Buffer.from(cert.data) : cert.data, source),
  };
}

/**
 * The options both connections take, the caller's identity and a summary safe to print, from the
 * profile of `loadConfig()` (env vars over the `TEMPORAL_PROFILE` of temporal.toml), as the
 * Temporal CLI reads them. An API key turns TLS on unless `TEMPORAL_TLS=false`.
 * @throws FerryError BAD_INPUT for a TLS file that is missing or not a certificate, or a certificate without its key.
 * @example const { options } = temporalConnectionOptions(loadConfig()); await NativeConnection.connect(options);
 */
export function temporalConnectionOptions(config: FerryConfig): ResolvedConnection {
  const { tls, clientCertSubject } = resolveTls(config.temporal);
  const { connectionOptions } = toClientOptions({ ...config.temporal.settings, tls });
  const options: TemporalConnectionOptions = {
    address: config.address,
    tls: (connectionOptions.tls ?? undefined) as TLSConfig | boolean | undefined,
    apiKey: connectionOptions.apiKey,
    metadata: connectionOptions.metadata as Record<string, string> | undefined,
  };
  const caller = callerIdentity({ clientCertSubject, apiKey: options.apiKey });
  const summary: ConnectionSummary = {
    address: config.address,
    namespace: config.namespace,
    profile: config.temporal.name,
    configFile: config.temporal.configFile,
    tls: Boolean(options.tls),
    clientCert: clientCertSubject,
    serverName: options.tls ? tls?.serverName : undefined,
    serverCa: Boolean(options.tls && tls?.serverCACert),
    apiKey: Boolean(options.apiKey),
    identity: caller.identity,
  };
  return { options, caller, summary };
}

/**
 * Connects to the Temporal server of `config` (see `temporalConnectionOptions`); the client's
 * Temporal `identity` is the caller's, so the workflow history shows who sent each request.
 * @throws FerryError UNAVAILABLE: the server is unreachable; running migrations are safe (their
 *   state is in Temporal and PostgreSQL) and workers reconnect by themselves.
 */
export async function connectClient(config: FerryConfig = loadConfig()): Promise<FerryClient> {
  const { options, caller, summary } = temporalConnectionOptions(config);
  let connection: Connection;
  try {
    connection = await Connection.connect({ ...options, connectTimeout: '5s' });
  } catch (err) {
    throw temporalUnavailable(config.address, err, summary);
  }
  const client = new Client({ connection, namespace: config.namespace, identity: caller.identity });
  return { client, config, caller, close: () => connection.close() };
}

/**
 * The one message for a Temporal server that did not answer: which address and where it comes
 * from, that nothing is lost, and what to do (the CLI and `ferry worker` both use it).
 * @example throw temporalUnavailable('localhost:7233', err)
 */
export function temporalUnavailable(address: string, err: unknown, summary?: ConnectionSummary): FerryError {
  return new FerryError('UNAVAILABLE', unreachableMessage(address, (err as Error).message, summary));
}

/** Where the address came from, for messages. */
function addressSource(summary: ConnectionSummary | undefined): string {
  if (!summary?.configFile || process.env.TEMPORAL_ADDRESS) return 'TEMPORAL_ADDRESS';
  return `TEMPORAL_ADDRESS or profile "${summary.profile}" of "${summary.configFile}"`;
}

/**
 * What ferry says when the Temporal server does not answer: which address, that nothing is lost,
 * and what to do.
 * @example unreachableMessage('127.0.0.1:7233', 'Failed to connect before the deadline')
 */
export function unreachableMessage(address: string, cause: string, summary?: ConnectionSummary): string {
  const tls = summary
    ? summary.tls
      ? ` ferry tried with TLS${summary.clientCert ? ` (client certificate "${summary.clientCert}")` : ''}${summary.apiKey ? ' and an API key' : ''}: check TEMPORAL_TLS_* and TEMPORAL_API_KEY, or set TEMPORAL_TLS=false for a server without TLS.`
      : ' ferry tried without TLS: set TEMPORAL_TLS=true (or the TEMPORAL_TLS_* certificates) if the server requires it.'
    : '';
  return (
    `the Temporal server at "${address}" (${addressSource(summary)}) is unreachable: ${cause}. ` +
    'Running migrations are not lost: their state is kept by Temporal and their checkpoints by PostgreSQL, and ' +
    'ferry workers reconnect by themselves and carry on once the server is back (nothing to restart). ' +
    `Check that the server is up and reachable at that address, or set TEMPORAL_ADDRESS; for a local stack run "ferry dev".${tls}`
  );
}
