/**
 * The Temporal server's configuration for devstack/production-temporal.ts: the module's own
 * `config/development-postgres12.yaml` with ports, databases and TLS of our own, and a dynamic
 * config file beside it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import type { CertPair } from './certificates';

/** The environment name the server is started with (`--env`): it reads `config/<ENV>.yaml`. */
export const CONFIG_ENV = 'production';

/** The ports of one node's four services. */
export interface ServicePorts {
  frontend: { grpcPort: number; httpPort: number; membershipPort: number };
  history: { grpcPort: number; membershipPort: number };
  matching: { grpcPort: number; membershipPort: number };
  worker: { grpcPort: number; membershipPort: number };
}

/** What goes into the config beyond the module's template. */
export interface ServerConfigInput {
  /** The template, `<module>/config/development-postgres12.yaml`. */
  template: string;
  /** Where `config/` is written (the server's `--root`). */
  root: string;
  ports: ServicePorts;
  postgres: { host: string; port: string; user: string; password: string };
  databases: { temporal: string; visibility: string };
  caCertPath: string;
  /** The frontend's certificate (SANs localhost, 127.0.0.1). */
  server: CertPair;
  /** The client certificate the server's system worker presents to its own frontend. */
  systemWorker: CertPair;
  serverName: string;
}

/**
 * Dynamic config: search attributes read fresh from the database (a test registers them and
 * starts a migration at once), and the visibility rate the dev server also allows (ferry's
 * `status` and `list` poll it).
 */
const DYNAMIC_CONFIG = {
  'system.forceSearchAttributesCacheRefreshOnRead': [{ value: true }],
  'frontend.namespaceRPS.visibility': [{ value: 100 }],
};

/** Connections each service of the server may hold per store (the template has 20). */
const SERVER_MAX_CONNS = 4;

type Yaml = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- the server's config, read from YAML

/** The template with our databases, ports, TLS and no side listeners (pprof, metrics); archival stays off for namespaces, as in the template. */
function serverConfig(input: ServerConfigInput): Yaml {
  const cfg = parse(fs.readFileSync(input.template, 'utf8')) as Yaml;
  cfg.log = { stdout: true, level: 'warn' };
  const stores = cfg.persistence.datastores as Record<string, { sql: Yaml }>;
  const dbName: Record<string, string> = {
    [cfg.persistence.defaultStore]: input.databases.temporal,
    [cfg.persistence.visibilityStore]: input.databases.visibility,
  };
  for (const [name, store] of Object.entries(stores)) {
    Object.assign(store.sql, {
      databaseName: dbName[name],
      connectAddr: `${input.postgres.host}:${input.postgres.port}`,
      user: input.postgres.user,
      password: input.postgres.password,
      // The tests share one PostgreSQL (max_connections 100) between up to two of these servers, the dev
      // server's tests and ferry's pools: the template's 20 per service (4 services) would use it all.
      maxConns: Math.min(store.sql.maxConns ?? SERVER_MAX_CONNS, SERVER_MAX_CONNS),
      maxIdleConns: Math.min(store.sql.maxIdleConns ?? SERVER_MAX_CONNS, SERVER_MAX_CONNS),
    });
  }
  cfg.global.pprof = { port: 0 };
  delete cfg.global.metrics;
  cfg.global.tls = tls(input);
  for (const [service, ports] of Object.entries(input.ports)) Object.assign(cfg.services[service].rpc, ports, { bindOnLocalHost: true });
  cfg.clusterMetadata.clusterInformation[cfg.clusterMetadata.currentClusterName].rpcAddress = `127.0.0.1:${input.ports.frontend.grpcPort}`;
  cfg.dynamicConfigClient = { filepath: path.join(input.root, 'config', 'dynamicconfig.yaml'), pollInterval: '10s' };
  return cfg;
}

/** mTLS required on the frontend; the system worker is a client with its own certificate. */
function tls(input: ServerConfigInput): Yaml {
  const client = { serverName: input.serverName, rootCaFiles: [input.caCertPath] };
  return {
    frontend: {
      server: {
        certFile: input.server.certPath,
        keyFile: input.server.keyPath,
        requireClientAuth: true,
        clientCaFiles: [input.caCertPath],
      },
      client,
    },
    systemWorker: { certFile: input.systemWorker.certPath, keyFile: input.systemWorker.keyPath, client },
  };
}

/**
 * Writes `<root>/config/production.yaml` and `<root>/config/dynamicconfig.yaml`; start the server
 * with `--root <root> --config config --env production`.
 * @example writeServerConfig({ template, root: dir, ports, postgres, databases, caCertPath, server, systemWorker, serverName: 'localhost' })
 */
export function writeServerConfig(input: ServerConfigInput): void {
  const dir = path.join(input.root, 'config');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, `${CONFIG_ENV}.yaml`), stringify(serverConfig(input)));
  fs.writeFileSync(path.join(dir, 'dynamicconfig.yaml'), stringify(DYNAMIC_CONFIG));
}
