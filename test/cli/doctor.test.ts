/**
 * `ferry doctor` against the dev server and real PostgreSQL: all is well (exit 0, what it connected
 * to, the server's version, the search attributes, PostgreSQL's version and ferry's schema); an
 * unreachable server (exit 1), a namespace that does not exist (exit 2), a role without privileges
 * (exit 1); an API key is reported, never printed.
 */
import { createTestDatabase, createTestRole, type TestDatabase, type TestRole } from '../helpers/db';
import { runFerry } from '../helpers/harness';
import type { DoctorReport } from '../../src/cli/doctor';
import { howToAdd } from '../../src/client/doctor';
import type { FerryConfig } from '../../src/config';

let db: TestDatabase;
let role: TestRole;
const base = () => ({ ...process.env, DATABASE_URL: db.url, FERRY_TASK_QUEUE: `doctor-${process.pid}` });

beforeAll(async () => {
  db = await createTestDatabase('doctor');
  role = await createTestRole('doctor_nopriv');
});

afterAll(async () => {
  await db?.drop();
  await role?.drop();
});

async function doctor(env: NodeJS.ProcessEnv): Promise<{ code: number; report: DoctorReport; stderr: string }> {
  const r = await runFerry(['doctor', '--json'], env);
  return { code: r.code, report: JSON.parse(r.stdout) as DoctorReport, stderr: r.stderr };
}

const byName = (report: DoctorReport) => Object.fromEntries(report.checks.map((c) => [c.check, c]));

test('all well: exit 0; the address, no TLS, the server version, the attributes, PostgreSQL and ferry schema', async () => {
  const { code, report } = await doctor(base());
  expect(code).toBe(0);
  const checks = byName(report);
  expect(report.ok).toBe(true);
  expect(checks.temporal).toMatchObject({
    status: 'ok',
    details: {
      address: process.env.TEMPORAL_ADDRESS,
      namespace: 'default',
      tls: false,
      apiKey: false,
      serverVersion: expect.stringMatching(/^\d+\.\d+/),
    },
  });
  expect(checks.namespace.status).toBe('ok');
  expect(checks['search attributes']).toMatchObject({ status: 'ok', details: { missing: [], wrongType: [] } });
  expect(checks.workers).toMatchObject({ status: 'warn', message: expect.stringContaining('no worker polls task queue') });
  expect(checks.postgresql).toMatchObject({
    status: 'ok',
    details: { role: 'postgres', superuser: true },
    message: expect.stringMatching(/^PostgreSQL \d+/),
  });
  expect(checks['ferry schema']).toMatchObject({
    status: 'ok',
    message: expect.stringMatching(/^ferry's schema is up to date at version \d+$/),
  });

  const text = await runFerry(['doctor'], base());
  expect(text.code).toBe(0);
  expect(text.stdout).toMatch(/^ok {4}temporal +Temporal \d+\.\d+\S* at /m);
  expect(text.stdout).toContain('ferry can run migrations here.');
});

test('an API key is reported as present, never printed', async () => {
  const r = await runFerry(['doctor'], { ...base(), TEMPORAL_API_KEY: 'sekrit-key-123', TEMPORAL_TLS: 'false' });
  expect(r.code).toBe(0);
  expect(r.stdout).toContain('no TLS, no client certificate, API key');
  expect(r.stdout + r.stderr).not.toContain('sekrit-key-123');
});

test('an unreachable Temporal server: exit 1, the address and what to check; PostgreSQL still checked', async () => {
  const { code, report, stderr } = await doctor({ ...base(), TEMPORAL_ADDRESS: '127.0.0.1:1' });
  expect(code).toBe(1);
  const checks = byName(report);
  expect(checks.temporal).toMatchObject({
    status: 'fail',
    code: 'UNAVAILABLE',
    message: expect.stringContaining('the Temporal server at "127.0.0.1:1"'),
  });
  expect(checks.postgresql.status).toBe('ok');
  expect(stderr).toContain('ferry: doctor: temporal would stop a migration');
});

test('a namespace that does not exist: exit 2, how to create it', async () => {
  const { code, report } = await doctor({ ...base(), TEMPORAL_NAMESPACE: 'no-such-namespace' });
  expect(code).toBe(2);
  expect(byName(report).namespace).toMatchObject({
    status: 'fail',
    message: expect.stringContaining('create it with "temporal operator namespace create --namespace no-such-namespace"'),
  });
});

test('a role without privileges: exit 1; it may not read ferry schema, the next step is ferry setup --grant-to', async () => {
  const { code, report } = await doctor({ ...base(), DATABASE_URL: role.url(db) });
  expect(code).toBe(1);
  const checks = byName(report);
  expect(checks.postgresql).toMatchObject({ status: 'warn', details: { role: role.name, superuser: false, createInSchema: false } });
  expect(checks['ferry schema']).toMatchObject({
    status: 'fail',
    message:
      `role "${role.name}" lacks USAGE or CREATE on schema "ferry" (the worker reads its tables and creates its trigger functions there); ` +
      `run "ferry setup --grant-to ${role.name}" with DATABASE_URL of the role that owns schema "ferry".`,
  });
});

test('a role without privileges on a database without ferry schema: exit 1, it may not create it', async () => {
  const empty = await createTestDatabase('doctor_empty', { store: false });
  try {
    const { code, report } = await doctor({ ...base(), DATABASE_URL: role.url(empty) });
    expect(code).toBe(1);
    expect(byName(report)['ferry schema']).toMatchObject({
      status: 'fail',
      message: expect.stringContaining(`and role "${role.name}" may not create it`),
    });
  } finally {
    await empty.drop();
  }
});

test('no DATABASE_URL: exit 2, saying to set it', async () => {
  const { DATABASE_URL: _, ...env } = base();
  const { code, report } = await doctor(env);
  expect(code).toBe(2);
  expect(byName(report).postgresql).toMatchObject({ status: 'fail', message: expect.stringContaining('DATABASE_URL is not set') });
});

test('missing search attributes on Temporal Cloud: the tcld command; elsewhere: the Temporal CLI command', () => {
  const missing = [{ name: 'MigrationPhase', type: 'Keyword' }];
  const cloud = { address: 'acme.a1b2c.tmprl.cloud:7233', namespace: 'acme.a1b2c' } as FerryConfig;
  expect(howToAdd(cloud, missing)).toContain(
    'tcld namespace search-attributes add --namespace acme.a1b2c --search-attribute "MigrationPhase=Keyword"',
  );
  expect(howToAdd({ address: 'temporal.internal:7233', namespace: 'prod' } as FerryConfig, missing)).toContain(
    'temporal operator search-attribute create --namespace prod --name MigrationPhase --type Keyword',
  );
});
