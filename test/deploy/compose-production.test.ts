/**
 * The `production` profile of docker-compose.yml, checked without a Docker engine: its services and
 * their order, that it leaves the profile-less stack alone, that no secret is written in it, and
 * that its namespace set-up script (run here against the dev server with the Temporal CLI)
 * registers exactly ferry's search attributes.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import pg from 'pg';
import { temporal } from '@temporalio/proto';
import { parse } from 'yaml';
import { ALL_SEARCH_ATTRIBUTES, CLI_TYPE_NAMES } from '../../src/contract/search-attributes';
import { findTemporalCli } from '../../devstack/temporal-cli';
import { parseDockerfile } from './dockerfile';

const ROOT = path.resolve(__dirname, '..', '..');
const SETUP_DIR = path.join(ROOT, 'deploy', 'temporal');

interface Service {
  profiles?: string[];
  image?: string;
  build?: unknown;
  entrypoint?: string[];
  environment?: Record<string, string> | string[];
  ports?: string[];
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  stop_signal?: string;
  stop_grace_period?: string;
}
const compose = parse(fs.readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8')) as { services: Record<string, Service> };
const services = compose.services;
const production = Object.fromEntries(Object.entries(services).filter(([, s]) => s.profiles?.includes('production')));

/** `environment` as a map; a list entry without `=` passes the variable through (value undefined). */
function envOf(s: Service): Record<string, string | undefined> {
  if (!Array.isArray(s.environment)) return { ...s.environment };
  return Object.fromEntries(
    s.environment.map((e) => (e.includes('=') ? [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)] : [e, undefined])),
  );
}

const hostPorts = (s: Service) => (s.ports ?? []).map((spec) => Number(String(spec).split(':').slice(-2)[0]));

test('the profile-less stack is unchanged: postgres and the dev server, no profile', () => {
  const plain = Object.entries(services).filter(([, s]) => !s.profiles);
  expect(plain.map(([name]) => name).sort()).toEqual(['postgres', 'temporal']);
});

test('production: Temporal on its own PostgreSQL, schema set up before the server, namespace before the worker, the Web UI', () => {
  expect(Object.keys(production).sort()).toEqual(
    ['ferry-worker', 'temporal-db', 'temporal-namespace', 'temporal-schema', 'temporal-server', 'temporal-ui'].sort(),
  );
  const deps = (name: string) => production[name].depends_on ?? {};
  expect(deps('temporal-schema')['temporal-db'].condition).toBe('service_healthy');
  expect(deps('temporal-server')['temporal-schema'].condition).toBe('service_completed_successfully');
  expect(deps('temporal-namespace')['temporal-server'].condition).toBe('service_healthy');
  expect(deps('ferry-worker')['temporal-namespace'].condition).toBe('service_completed_successfully');
  expect(deps('temporal-ui')['temporal-server'].condition).toBe('service_healthy');

  // the released server image (not the dev server, not auto-setup) on PostgreSQL 12+ persistence
  expect(production['temporal-server'].image).toMatch(/^temporalio\/server:\d/);
  expect(envOf(production['temporal-server']).DB).toBe('postgres12');
  expect(production['temporal-ui'].image).toMatch(/^temporalio\/ui:\d/);
  expect(envOf(production['temporal-schema']).SQL_PLUGIN).toBe('postgres12');
});

test('no host port of the production profile clashes with the default stack, and all are on 127.0.0.1', () => {
  const plainPorts = Object.values(services)
    .filter((s) => !s.profiles)
    .flatMap(hostPorts);
  const prodPorts = Object.values(production).flatMap(hostPorts);
  expect(prodPorts.filter((p) => plainPorts.includes(p))).toEqual([]);
  for (const s of Object.values(production)) for (const spec of s.ports ?? []) expect(spec).toMatch(/^127\.0\.0\.1:/);
});

test('the worker is built from ./Dockerfile, settings from the environment, SIGTERM with a generous grace', () => {
  const worker = production['ferry-worker'];
  expect(worker.build === '.' || (worker.build as { context?: string })?.context === '.').toBe(true);
  const env = envOf(worker);
  expect(Object.keys(env)).toEqual(expect.arrayContaining(['DATABASE_URL', 'TEMPORAL_ADDRESS', 'TEMPORAL_NAMESPACE', 'TEMPORAL_API_KEY']));
  expect(env.DATABASE_URL).toBeUndefined(); // passed through from the shell, never written here
  expect(env.TEMPORAL_API_KEY).toBeUndefined();
  expect(env.TEMPORAL_ADDRESS).toBe('${TEMPORAL_ADDRESS:-temporal-server:7233}');
  expect(worker.stop_signal).toBe('SIGTERM');
  const grace = /^(\d+)(s|m)$/.exec(worker.stop_grace_period ?? '');
  expect(grace).not.toBeNull();
  expect(Number(grace![1]) * (grace![2] === 'm' ? 60 : 1)).toBeGreaterThanOrEqual(60);
  // the migrations are mounted where the image's FERRY_MIGRATIONS points
  const dockerfileEnv = parseDockerfile(fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8'))
    .at(-1)!
    .instructions.filter((i) => i.op === 'ENV')
    .map((i) => i.args)
    .join(' ');
  expect(dockerfileEnv).toContain('FERRY_MIGRATIONS=/app/migrations');
  expect(worker.volumes).toEqual([expect.stringMatching(/:\/app\/migrations:ro$/)]);
});

test('no password or credentials are written in the file: every secret is a ${VARIABLE}', () => {
  for (const [name, s] of Object.entries(production)) {
    for (const [key, value] of Object.entries(envOf(s))) {
      if (/PASSWORD|PWD|API_KEY|DATABASE_URL/.test(key) && value !== undefined) {
        expect(`${name}.${key}=${value}`).toMatch(/=\$\{[A-Z_]+(:-)?\}$/);
      }
      expect(`${name}.${key}=${value}`).not.toMatch(/:\/\/[^/\s$]*@/);
    }
  }
});

test('the set-up scripts the one-shot services run exist and are valid sh', () => {
  for (const name of ['temporal-schema', 'temporal-namespace']) {
    const s = production[name];
    expect(s.volumes).toContain('./deploy/temporal:/deploy:ro');
    const script = s.entrypoint?.[1] ?? '';
    expect(script).toMatch(/^\/deploy\/[\w-]+\.sh$/);
    const local = path.join(SETUP_DIR, path.basename(script));
    execFileSync('sh', ['-n', local]);
  }
  const schema = fs.readFileSync(path.join(SETUP_DIR, 'setup-schema.sh'), 'utf8');
  for (const step of ['create-database', 'setup-schema -v 0.0', 'update-schema --schema-name "$schema"']) expect(schema).toContain(step);
  expect(schema).toContain('postgresql/v12/');
});

describe('setup-namespace.sh against the dev server', () => {
  const namespace = `ferry-compose-${randomBytes(3).toString('hex')}`;
  let cliDir: string;
  let connection: Connection;

  beforeAll(async () => {
    cliDir = path.dirname(await findTemporalCli());
    connection = await Connection.connect({ address: process.env.TEMPORAL_ADDRESS });
  });
  afterAll(async () => {
    await connection?.operatorService.deleteNamespace({ namespace }).catch(() => undefined);
    await connection?.close();
  });

  const runScript = () =>
    execFileSync('sh', [path.join(SETUP_DIR, 'setup-namespace.sh')], {
      env: { ...process.env, PATH: `${cliDir}:${process.env.PATH}`, TEMPORAL_NAMESPACE: namespace },
      encoding: 'utf8',
      stdio: 'pipe',
    });

  test("creates the namespace with exactly ferry's search attributes, and a second run changes nothing", async () => {
    expect(runScript()).toContain(`namespace "${namespace}" ready`);
    const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
    const { IndexedValueType } = temporal.api.enums.v1;
    const registered = Object.entries(customAttributes ?? {})
      .map(([name, type]) => `${name}=${IndexedValueType[type].replace('INDEXED_VALUE_TYPE_', '')}`)
      .filter((entry) => ALL_SEARCH_ATTRIBUTES.some((k) => entry.startsWith(`${k.name}=`)));
    expect(registered.sort()).toEqual(ALL_SEARCH_ATTRIBUTES.map((k) => `${k.name}=${k.type}`).sort());

    // and the script's list is the complete one (an attribute ferry adds later must be added there too)
    const script = fs.readFileSync(path.join(SETUP_DIR, 'setup-namespace.sh'), 'utf8');
    const listed = /for sa in ([^;]+);/.exec(script)![1].trim().split(/\s+/);
    expect(listed.sort()).toEqual(ALL_SEARCH_ATTRIBUTES.map((k) => `${k.name}=${CLI_TYPE_NAMES[k.type]}`).sort());

    expect(runScript()).toContain(`namespace "${namespace}" ready`);
  }, 120_000);
});

/** temporal-sql-tool v1.29.x: on PATH, named by FERRY_TEMPORAL_SQL_TOOL, or in ferry's build cache. */
function findSqlTool(): string | undefined {
  const cacheDir = path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'ferry', 'temporal-server-1.29.1');
  const candidates = [
    process.env.FERRY_TEMPORAL_SQL_TOOL,
    ...(process.env.PATH ?? '').split(path.delimiter).map((dir) => path.join(dir, 'temporal-sql-tool')),
    path.join(cacheDir, 'temporal-sql-tool'),
    path.join(cacheDir, 'sql'),
  ];
  return candidates.find((file): file is string => !!file && fs.existsSync(file));
}

const sqlTool = findSqlTool();

// Skipped only where temporal-sql-tool has not been built (`go build ./cmd/tools/sql` of go.temporal.io/server@v1.29.1).
(sqlTool ? describe : describe.skip)('setup-schema.sh with temporal-sql-tool against PostgreSQL', () => {
  const suffix = randomBytes(3).toString('hex');
  const dbs = { TEMPORAL_DB: `ferry_tschema_${suffix}`, TEMPORAL_VISIBILITY_DB: `ferry_tvis_${suffix}` };
  const admin = new URL(process.env.FERRY_TEST_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres');

  const runSchema = () => {
    const bin = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-sql-tool-'));
    fs.symlinkSync(sqlTool!, path.join(bin, 'temporal-sql-tool'));
    try {
      return execFileSync('sh', [path.join(SETUP_DIR, 'setup-schema.sh')], {
        env: {
          ...process.env,
          ...dbs,
          PATH: `${bin}:${process.env.PATH}`,
          SQL_PLUGIN: 'postgres12',
          SQL_HOST: admin.hostname,
          SQL_PORT: admin.port || '5432',
          SQL_USER: decodeURIComponent(admin.username),
          SQL_PASSWORD: decodeURIComponent(admin.password),
        },
        encoding: 'utf8',
        stdio: 'pipe',
      });
    } finally {
      fs.rmSync(bin, { recursive: true, force: true });
    }
  };

  const version = async (db: string) => {
    const url = new URL(admin);
    url.pathname = `/${db}`;
    const client = new pg.Client({ connectionString: url.toString() });
    await client.connect();
    try {
      return (await client.query('SELECT curr_version FROM schema_version')).rows[0]?.curr_version as string;
    } finally {
      await client.end();
    }
  };

  afterAll(async () => {
    const client = new pg.Client({ connectionString: admin.toString() });
    await client.connect();
    for (const db of Object.values(dbs)) await client.query(`DROP DATABASE IF EXISTS ${db}`);
    await client.end();
  });

  test("creates both databases at the tool's schema versions, and a second run changes nothing", async () => {
    expect(runSchema()).toContain('temporal-schema: done');
    const first = [await version(dbs.TEMPORAL_DB), await version(dbs.TEMPORAL_VISIBILITY_DB)];
    expect(first.every((v) => /^\d+\.\d+$/.test(v) && v !== '0.0')).toBe(true);
    expect(runSchema()).toContain('temporal-schema: done');
    expect([await version(dbs.TEMPORAL_DB), await version(dbs.TEMPORAL_VISIBILITY_DB)]).toEqual(first);
  }, 120_000);
});
