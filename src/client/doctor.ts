/**
 * `ferry doctor`, the Temporal half: what ferry connects to (address, namespace, TLS, API key,
 * identity; never a key), the server's version, the namespace, ferry's search attributes and the
 * workers polling ferry's task queue. Reads only: it registers nothing.
 */
import { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { FerryError, type FerryErrorCode } from '../contract/errors';
import { ALL_SEARCH_ATTRIBUTES, CLI_TYPE_NAMES } from '../contract/search-attributes';
import { loadConfig, type FerryConfig } from '../config';
import { temporalConnectionOptions, temporalUnavailable, type ConnectionSummary } from './connect';

/** One line of `ferry doctor`: `fail` stops a migration, `warn` may, `ok` is fine. */
export interface DoctorCheck {
  check: string;
  status: 'ok' | 'warn' | 'fail';
  /** What was found, in words (never a secret). */
  message: string;
  /** For a failure: ferry's error code (its exit code, by src/contract/errors.ts). */
  code?: FerryErrorCode;
  /** What was found, as data for `--json`. */
  details?: Record<string, unknown>;
}

const { IndexedValueType } = temporal.api.enums.v1;
const isCloud = (address: string) => /\.tmprl\.cloud(:\d+)?$/i.test(address);
const fail = (check: string, err: unknown): DoctorCheck => ({
  check,
  status: 'fail',
  message: (err as Error).message,
  code: err instanceof FerryError ? err.code : 'FAILED',
});

/**
 * Connects as the CLI does and checks the server, namespace, search attributes and task queue.
 * @example const checks = await temporalChecks(); // [{ check: 'temporal', status: 'ok', ... }, ...]
 */
export async function temporalChecks(env: Record<string, string | undefined> = process.env): Promise<DoctorCheck[]> {
  let config: FerryConfig;
  let resolved: ReturnType<typeof temporalConnectionOptions>;
  try {
    config = loadConfig(env);
    resolved = temporalConnectionOptions(config);
  } catch (err) {
    return [fail('temporal', err)];
  }
  let connection: Connection;
  try {
    connection = await Connection.connect({ ...resolved.options, connectTimeout: '5s' });
  } catch (err) {
    return [fail('temporal', temporalUnavailable(config.address, err, resolved.summary))];
  }
  try {
    const checks = [await serverCheck(connection, resolved.summary), await namespaceCheck(connection, config)];
    if (checks[1].status !== 'fail') checks.push(await searchAttributeCheck(connection, config), await taskQueueCheck(connection, config));
    return checks;
  } finally {
    await connection.close();
  }
}

/** Where ferry connected and how, and the server's version. */
async function serverCheck(connection: Connection, s: ConnectionSummary): Promise<DoctorCheck> {
  const info = await connection.workflowService.getSystemInfo({});
  const version = info.serverVersion || 'unknown';
  const how = [
    s.tls ? 'TLS' : 'no TLS',
    s.clientCert ? `client certificate "${s.clientCert}"` : 'no client certificate',
    s.apiKey ? 'API key' : 'no API key',
  ];
  const from = s.configFile ? `, profile "${s.profile}" of ${s.configFile}` : '';
  return {
    check: 'temporal',
    status: 'ok',
    message: `Temporal ${version} at ${s.address} (${how.join(', ')}${from}); ferry's identity: "${s.identity}"`,
    details: { ...s, serverVersion: version },
  };
}

/** The namespace exists (a missing one stops every start). */
async function namespaceCheck(connection: Connection, config: FerryConfig): Promise<DoctorCheck> {
  const { namespace } = config;
  try {
    const ns = await connection.workflowService.describeNamespace({ namespace });
    const days = Number(ns.config?.workflowExecutionRetentionTtl?.seconds ?? 0) / 86_400;
    return {
      check: 'namespace',
      status: 'ok',
      message: `namespace "${namespace}" (retention ${days} days)`,
      details: { namespace, retentionDays: days },
    };
  } catch (err) {
    const code = (err as { code?: number }).code;
    if (code === 5 /* NOT_FOUND */) {
      const create = isCloud(config.address)
        ? 'create it in the Temporal Cloud UI or with "tcld namespace create"'
        : `create it with "temporal operator namespace create --namespace ${namespace}"`;
      return {
        check: 'namespace',
        status: 'fail',
        code: 'BAD_INPUT',
        message: `namespace "${namespace}" (TEMPORAL_NAMESPACE) does not exist; ${create}, or set TEMPORAL_NAMESPACE.`,
      };
    }
    return { check: 'namespace', status: 'warn', message: `namespace "${namespace}" could not be described: ${(err as Error).message}` };
  }
}

/**
 * How to add missing search attributes: `tcld` on Temporal Cloud (a namespace's credentials may not
 * add them there), the Temporal CLI elsewhere.
 * @example howToAdd(config, [{ name: 'MigrationPhase', type: 'Keyword' }])
 */
export function howToAdd(config: FerryConfig, missing: { name: string; type: string }[]): string {
  const ns = config.namespace;
  if (isCloud(config.address)) {
    const attrs = missing.map((a) => `--search-attribute "${a.name}=${a.type}"`).join(' ');
    return `Temporal Cloud does not let a namespace's API key or certificate add them: run "tcld namespace search-attributes add --namespace ${ns} ${attrs}", or add them in the Cloud UI (Namespace → Search Attributes).`;
  }
  const commands = missing.map((a) => `temporal operator search-attribute create --namespace ${ns} --name ${a.name} --type ${a.type}`);
  return `"ferry worker" adds them at start when its credentials may; otherwise run: ${commands.join('; ')}.`;
}

/** ferry's search attributes on the namespace: missing ones (and how to add them), wrong types. */
async function searchAttributeCheck(connection: Connection, config: FerryConfig): Promise<DoctorCheck> {
  let have: Record<string, number>;
  try {
    have = (await connection.operatorService.listSearchAttributes({ namespace: config.namespace })).customAttributes ?? {};
  } catch (err) {
    return {
      check: 'search attributes',
      status: 'warn',
      message: `could not list the namespace's search attributes: ${(err as Error).message}`,
    };
  }
  const want = ALL_SEARCH_ATTRIBUTES.map((k) => ({
    name: k.name,
    type: CLI_TYPE_NAMES[k.type],
    wire: IndexedValueType[`INDEXED_VALUE_TYPE_${k.type}`],
  }));
  const wrong = want.filter((a) => a.name in have && have[a.name] !== a.wire);
  const missing = want.filter((a) => !(a.name in have));
  const details = {
    present: want.filter((a) => a.name in have).map((a) => a.name),
    missing: missing.map((a) => a.name),
    wrongType: wrong.map((a) => a.name),
  };
  if (wrong.length) {
    const names = wrong.map((a) => `"${a.name}" (has ${IndexedValueType[have[a.name]]}, ferry needs ${a.type})`).join(', ');
    return {
      check: 'search attributes',
      status: 'fail',
      code: 'CONFLICT',
      details,
      message: `search attributes ${names} have the wrong type; remove them ("temporal operator search-attribute remove") or use another namespace.`,
    };
  }
  if (missing.length === 0)
    return { check: 'search attributes', status: 'ok', details, message: `all ${want.length} of ferry's search attributes exist` };
  // Not a stop: migrations run without them (status and list read the memo), only the Web UI's columns and filters lack them.
  return {
    check: 'search attributes',
    status: 'warn',
    details,
    message:
      `missing on namespace "${config.namespace}": ${missing.map((a) => `${a.name} (${a.type})`).join(', ')}; migrations run without them ` +
      `(status and list read each migration's memo) but the Web UI cannot filter or show columns by them. ${howToAdd(config, missing)}`,
  };
}

/** Workers polling ferry's task queue: none is not an error (start one), but migrations wait. */
async function taskQueueCheck(connection: Connection, config: FerryConfig): Promise<DoctorCheck> {
  try {
    const res = await connection.workflowService.describeTaskQueue({ namespace: config.namespace, taskQueue: { name: config.taskQueue } });
    const pollers = (res.pollers ?? []).map((p) => p.identity ?? '?');
    if (pollers.length)
      return {
        check: 'workers',
        status: 'ok',
        message: `${pollers.length} polling task queue "${config.taskQueue}" (${pollers.join(', ')})`,
        details: { pollers },
      };
    return {
      check: 'workers',
      status: 'warn',
      message: `no worker polls task queue "${config.taskQueue}" (FERRY_TASK_QUEUE); migrations wait until one runs: "ferry worker".`,
      details: { pollers },
    };
  } catch (err) {
    return { check: 'workers', status: 'warn', message: `could not describe task queue "${config.taskQueue}": ${(err as Error).message}` };
  }
}
