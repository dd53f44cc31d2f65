/**
 * A production-shaped Temporal for tests: the real server (not the dev server), one node with all
 * four services, persistence and visibility in PostgreSQL databases of its own (schema set up by
 * deploy/temporal/setup-schema.sh with temporal-sql-tool), mutual TLS required on the frontend
 * (certificates made with openssl at run time), and the namespace with ferry's search attributes
 * registered by deploy/temporal/setup-namespace.sh through the Temporal CLI over mTLS.
 */
import { execFile } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { quoteIdent } from '../src/pg/quote';
import { createCertificateAuthority, type CertPair } from './certificates';
import { defaultLog, type Log } from './go-install';
import { isAlive } from './process';
import { findTemporalCli } from './temporal-cli';
import { findTemporalServer, type TemporalServerBuild } from './temporal-server';
import { writeServerConfig, type ServicePorts } from './temporal-server-config';
import { RUN_DIR_PREFIX, SERVER_NAME, serverProcess, sweepAbandonedServers, withoutTemporalEnv } from './temporal-server-process';

const run = promisify(execFile);

const DEPLOY_DIR = path.resolve(__dirname, '..', 'deploy', 'temporal');
const DB_PREFIX = 'ferry_prod_';
const SETUP_TIMEOUT_MS = 180_000;
const PORT_RANGE = [20_000, 32_000];

/** Options of {@link startProductionTemporal}. */
export interface ProductionTemporalOptions {
  /** A PostgreSQL superuser URL; the server's two databases are created there. Default: postgres on 127.0.0.1:5432. */
  adminUrl?: string;
  /** The namespace registered with ferry's search attributes. Default `ferry`. */
  namespace?: string;
  /** The server build; found or built (minutes) by `findTemporalServer` when omitted. */
  build?: TemporalServerBuild;
  log?: Log;
}

/** A running production-shaped server and what a client needs to reach it. */
export interface ProductionTemporal {
  /** `127.0.0.1:<port>`, the frontend (gRPC, mTLS required). */
  address: string;
  namespace: string;
  /** The name the server certificate is checked against (its SANs: `localhost`, `127.0.0.1`). */
  serverName: string;
  /** The CA that signed the server's and the clients' certificates. */
  caCertPath: string;
  /** The server's own databases (persistence, visibility). */
  databases: { temporal: string; visibility: string };
  /** The server's log file (appended to across restarts). */
  logFile: string;
  /** A client certificate with subject `CN=<cn>`, signed by the CA the server trusts. */
  issueClientCert(cn: string): CertPair;
  /** The `TEMPORAL_*` variables of a client (CLI, ferry, any SDK) using a certificate for `cn`. */
  clientEnv(cn: string): Record<string, string>;
  /** Stops the server process (SIGTERM, or `signal`); its databases stay. */
  stopServer(signal?: NodeJS.Signals): Promise<void>;
  /** Starts the server process again on the same ports and databases; resolves once it answers over mTLS. */
  startServer(): Promise<void>;
  /** Stops the server, drops its databases and removes its files. Idempotent. */
  cleanup(): Promise<void>;
}

/** True if 127.0.0.1:`port` can be bound right now. */
function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer().once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * Ports of the four services on 127.0.0.1, fixed for the life of the server so that a restart
 * keeps its address. Below 32768 (the server stores membership ports as smallint, so the kernel's
 * ephemeral range will not do), none of the dev server's (7233, 7234, 8233).
 */
async function allocatePorts(): Promise<ServicePorts> {
  const ports: number[] = [];
  while (ports.length < 9) {
    const port = PORT_RANGE[0] + randomInt(PORT_RANGE[1] - PORT_RANGE[0]);
    if (!ports.includes(port) && (await isFree(port))) ports.push(port);
  }
  const [grpcPort, httpPort, membershipPort, ...rest] = ports;
  const pair = (i: number) => ({ grpcPort: rest[i], membershipPort: rest[i + 1] });
  return { frontend: { grpcPort, httpPort, membershipPort }, history: pair(0), matching: pair(2), worker: pair(4) };
}

/**
 * Builds (first time, minutes) and starts a production-shaped Temporal: schema in two new
 * PostgreSQL databases `ferry_prod_<pid>_<random>_temporal` / `_visibility`, mTLS required on the
 * frontend, the namespace and ferry's search attributes registered. Servers, files and databases
 * of runs whose test process is gone are removed first. Call `cleanup()` when done.
 *
 * @throws GoMissingError (temporal-server.ts) when Go is missing; an Error with the server log's
 *   end when it does not come up.
 * @example
 * const t = await startProductionTemporal();
 * const env = t.clientEnv('alice'); // TEMPORAL_ADDRESS, TEMPORAL_TLS_CLIENT_CERT_PATH, ...
 * await t.cleanup();
 */
export async function startProductionTemporal(opts: ProductionTemporalOptions = {}): Promise<ProductionTemporal> {
  const log = opts.log ?? defaultLog;
  const build = opts.build ?? (await findTemporalServer({ log }));
  const cli = await findTemporalCli({ log });
  const adminUrl = opts.adminUrl ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const namespace = opts.namespace ?? 'ferry';
  sweepAbandonedServers(log);
  await dropAbandonedDatabases(adminUrl, log);
  const id = `${process.pid}_${randomBytes(3).toString('hex')}`;
  const databases = { temporal: `${DB_PREFIX}${id}_temporal`, visibility: `${DB_PREFIX}${id}_visibility` };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${RUN_DIR_PREFIX}${process.pid}-`));
  const ca = createCertificateAuthority(path.join(dir, 'certs'));
  const ports = await allocatePorts();
  const address = `127.0.0.1:${ports.frontend.grpcPort}`;
  const logFile = path.join(dir, 'server.log');
  const server = serverProcess(build.server, dir, {
    address,
    caCertPath: ca.caCertPath,
    client: ca.issueClientCert('ferry-readiness'),
    logFile,
  });
  let cleaned = false;
  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    await server.stop('SIGKILL');
    await dropDatabases(adminUrl, Object.values(databases));
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    log(`setting up the Temporal server's schema in "${databases.temporal}" and "${databases.visibility}"`);
    await setupSchema(build, adminUrl, databases, dir);
    writeServerConfig({
      template: path.join(build.moduleDir, 'config', 'development-postgres12.yaml'),
      ...{ root: dir, ports, postgres: pgParts(adminUrl), databases, caCertPath: ca.caCertPath, serverName: SERVER_NAME },
      ...{ server: ca.issueServerCert(), systemWorker: ca.issueClientCert('temporal-system-worker') },
    });
    log(`starting the Temporal server v${build.version} at ${address} (mTLS required; log ${logFile})`);
    await server.start();
    log(`registering namespace "${namespace}" and ferry's search attributes`);
    await setupNamespace(cli, envFor(address, namespace, ca.caCertPath, ca.issueClientCert('ferry-operator')), dir);
  } catch (err) {
    await cleanup();
    throw err;
  }
  return {
    ...{ address, namespace, serverName: SERVER_NAME, caCertPath: ca.caCertPath, databases, logFile },
    issueClientCert: ca.issueClientCert,
    clientEnv: (cn) => envFor(address, namespace, ca.caCertPath, ca.issueClientCert(cn)),
    stopServer: (signal) => server.stop(signal),
    startServer: () => server.start(namespace),
    cleanup,
  };
}

/** The `TEMPORAL_*` environment (Temporal's envconfig names, read by the CLI and every SDK) of an mTLS client. */
function envFor(address: string, namespace: string, caCertPath: string, pair: CertPair): Record<string, string> {
  return {
    TEMPORAL_ADDRESS: address,
    TEMPORAL_NAMESPACE: namespace,
    TEMPORAL_TLS: 'true',
    TEMPORAL_TLS_CLIENT_CERT_PATH: pair.certPath,
    TEMPORAL_TLS_CLIENT_KEY_PATH: pair.keyPath,
    TEMPORAL_TLS_SERVER_CA_CERT_PATH: caCertPath,
    TEMPORAL_TLS_SERVER_NAME: SERVER_NAME,
  };
}

/** Host, port, user and password of a PostgreSQL URL. */
function pgParts(url: string): { host: string; port: string; user: string; password: string } {
  const u = new URL(url);
  return {
    host: u.hostname || '127.0.0.1',
    port: u.port || '5432',
    user: decodeURIComponent(u.username || 'postgres'),
    password: decodeURIComponent(u.password),
  };
}

/** Runs the repository's setup-schema.sh with temporal-sql-tool (as the script names it) on PATH. */
async function setupSchema(build: TemporalServerBuild, adminUrl: string, databases: ProductionTemporal['databases'], dir: string) {
  const bin = path.join(dir, 'bin');
  fs.mkdirSync(bin, { recursive: true });
  fs.symlinkSync(build.sqlTool, path.join(bin, 'temporal-sql-tool'));
  const { host, port, user, password } = pgParts(adminUrl);
  const env = {
    ...process.env,
    PATH: `${bin}${path.delimiter}${process.env.PATH ?? ''}`,
    ...{ SQL_PLUGIN: 'postgres12', SQL_HOST: host, SQL_PORT: port, SQL_USER: user, SQL_PASSWORD: password },
    ...{ TEMPORAL_DB: databases.temporal, TEMPORAL_VISIBILITY_DB: databases.visibility },
  };
  await runScript('setup-schema.sh', env, SETUP_TIMEOUT_MS);
}

/** Runs the repository's setup-namespace.sh with the Temporal CLI on PATH and the operator's mTLS variables. */
async function setupNamespace(cli: string, clientEnv: Record<string, string>, dir: string) {
  const bin = path.join(dir, 'bin');
  fs.symlinkSync(cli, path.join(bin, 'temporal'));
  const env = { ...withoutTemporalEnv(process.env), ...clientEnv, PATH: `${bin}${path.delimiter}${process.env.PATH ?? ''}` };
  await runScript('setup-namespace.sh', env, SETUP_TIMEOUT_MS);
}

/** `sh deploy/temporal/<script>`; the error carries its output. */
async function runScript(script: string, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<void> {
  try {
    await run('sh', [path.join(DEPLOY_DIR, script)], {
      env,
      timeout: timeoutMs,
      killSignal: 'SIGKILL',
      encoding: 'utf8',
      maxBuffer: 16 << 20,
    });
  } catch (err) {
    const e = err as Error & { stdout?: string; stderr?: string; killed?: boolean };
    const why = e.killed ? `did not finish within ${timeoutMs / 1000} s` : `failed: ${e.message}`;
    throw new Error(`deploy/temporal/${script} ${why}\n${(e.stdout ?? '').slice(-3000)}${(e.stderr ?? '').slice(-3000)}`);
  }
}

/** Runs `fn` with an admin connection. */
async function withAdmin<T>(adminUrl: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Drops the databases (the server must be stopped; FORCE ends any connection left). */
async function dropDatabases(adminUrl: string, names: string[]): Promise<void> {
  await withAdmin(adminUrl, async (client) => {
    for (const name of names) await client.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
  });
}

/** Drops `ferry_prod_<pid>_*` databases whose process is gone (a run that was killed before its cleanup). */
async function dropAbandonedDatabases(adminUrl: string, log: Log): Promise<void> {
  const { rows } = await withAdmin(adminUrl, (client) =>
    client.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE datname LIKE $1::text`, [`${DB_PREFIX}%`]),
  );
  const abandoned = rows.map((r) => r.datname).filter((name) => !isAlive(Number(/^ferry_prod_(\d+)_/.exec(name)?.[1] ?? process.pid)));
  if (abandoned.length === 0) return;
  log(`dropping databases of Temporal servers whose test process is gone: ${abandoned.join(', ')}`);
  await dropDatabases(adminUrl, abandoned);
}
