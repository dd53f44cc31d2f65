/**
 * `ferry setup` through the CLI, as a DBA runs it: applies ferry's schema, says when it is up to
 * date, grants a least-privilege worker role, and exits 2 naming a role that does not exist. A
 * `ferry worker` connecting as the granted role starts; one facing a newer schema refuses to.
 */
import pg from 'pg';
import { loadStoreMigrations } from '../../src/store/files';
import { COMMIT_PROBE_DELETE, COMMIT_PROBE_UPSERT } from '../../src/store/latency-probes';
import { migrateStore } from '../../src/store/migrate';
import { createTestDatabase, createTestRole, type TestDatabase, type TestRole } from '../helpers/db';
import { createHarness, runFerry } from '../helpers/harness';

const latest = loadStoreMigrations().length;

let db: TestDatabase;
let role: TestRole;
const env = () => ({ ...process.env, DATABASE_URL: db.url });

beforeAll(async () => {
  db = await createTestDatabase('setup_cli', { store: false });
  role = await createTestRole('ferry_worker');
});
afterAll(async () => {
  await db?.drop();
  await role?.drop();
});

async function ferrySchemaExists(): Promise<boolean> {
  const { rows } = await db.pool.query(`SELECT to_regnamespace('ferry') IS NOT NULL AS present`);
  return rows[0].present;
}

test('--grant-to a role that does not exist exits 2, names it, and changes nothing', async () => {
  const r = await runFerry(['setup', '--grant-to', 'nosuchrole_ferry_test'], env());
  expect(r.code).toBe(2);
  expect(r.stderr).toContain('role "nosuchrole_ferry_test" does not exist');
  expect(r.stderr).toContain('CREATE ROLE "nosuchrole_ferry_test" LOGIN');
  expect(r.stderr).toContain('nothing was changed');
  expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  expect(await ferrySchemaExists()).toBe(false);
});

test('without DATABASE_URL it exits 2 and says to set it', async () => {
  const { DATABASE_URL: _unset, ...rest } = env();
  const r = await runFerry(['setup'], rest);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain('DATABASE_URL is not set');
});

test('--dry-run says what it would apply and changes nothing', async () => {
  const r = await runFerry(['setup', '--dry-run', '--grant-to', role.name], env());
  expect(r.code).toBe(0);
  expect(r.stdout).toContain('would apply 0001_initial');
  expect(r.stdout).toContain(`would grant to role "${role.name}":`);
  expect(r.stdout).toContain(`GRANT USAGE, CREATE ON SCHEMA "ferry" TO "${role.name}";`);
  expect(await ferrySchemaExists()).toBe(false);
});

test('applies the schema, then says it is up to date', async () => {
  const first = await runFerry(['setup', '--json'], env());
  expect(first.code).toBe(0);
  expect(JSON.parse(first.stdout)).toMatchObject({
    dryRun: false,
    from: 0,
    to: latest,
    applied: loadStoreMigrations().map(({ version, name }) => ({ version, name })),
    grants: [],
  });

  const again = await runFerry(['setup'], env());
  expect(again.code).toBe(0);
  expect(again.stdout.trim()).toBe(`ferry schema up to date at version ${latest}`);
});

describe('a worker role granted by ferry setup --grant-to', () => {
  let worker: pg.Pool;
  beforeAll(async () => {
    const r = await runFerry(['setup', '--grant-to', role.name], env());
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`ferry schema up to date at version ${latest}`);
    expect(r.stdout).toContain(`granted to role "${role.name}":`);
    worker = role.pool(db);
  });

  test("starts (schema up to date, no DDL) and reads and writes ferry's tables", async () => {
    await expect(migrateStore(worker)).resolves.toEqual({ from: latest, to: latest, applied: [] });
    await worker.query(`INSERT INTO ferry.backfill_checkpoints (migration, run_id, partition) VALUES ('m', 'r', 0)`);
    await worker.query(`UPDATE ferry.backfill_checkpoints SET batches = 1 WHERE migration = 'm'`);
    await worker.query(`INSERT INTO ferry.failed_rows (migration, run_id, key, error) VALUES ('m', 'r', ARRAY['1'], 'e')`);
    await worker.query(`INSERT INTO ferry.completed_migrations (migration, spec_hash) VALUES ('m', 'h')`);
    await worker.query(`INSERT INTO ferry.deploy_marks (migration, run_id, xid_mark) VALUES ('m', 'r', '1')`);
    // The latency budget's commit probe: its thread's upsert (twice: insert, then update) and delete.
    await worker.query(COMMIT_PROBE_UPSERT, ['m@host:1:1']);
    await worker.query(COMMIT_PROBE_UPSERT, ['m@host:1:1']);
    expect((await worker.query(`SELECT probe, commits::int FROM ferry.latency_probes`)).rows).toEqual([
      { probe: 'm@host:1:1', commits: 1 },
    ]);
    await worker.query(COMMIT_PROBE_DELETE, ['m@host:1:1']);
    expect((await worker.query(`SELECT count(*)::int AS n FROM ferry.latency_probes`)).rows).toEqual([{ n: 0 }]);
    const { rows } = await worker.query(`SELECT batches::int FROM ferry.backfill_checkpoints WHERE migration = 'm'`);
    expect(rows).toEqual([{ batches: 1 }]);
    await worker.query(`DELETE FROM ferry.failed_rows WHERE migration = 'm'`);
    // The dual-write trigger function goes in schema ferry: the worker creates and drops it.
    await worker.query(`CREATE FUNCTION ferry."dw_m"() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$`);
    await worker.query(`DROP FUNCTION ferry."dw_m"()`);
  });

  test('may read but not rewrite ferry.schema_migrations, and may not create outside ferry', async () => {
    await expect(worker.query('SELECT count(*) FROM ferry.schema_migrations')).resolves.toBeDefined();
    await expect(worker.query(`DELETE FROM ferry.schema_migrations`)).rejects.toMatchObject({ code: '42501' });
    await expect(worker.query(`CREATE SCHEMA ferry_elsewhere`)).rejects.toMatchObject({ code: '42501' });
  });

  test('`ferry worker` as that role starts; facing a newer schema it refuses to start', async () => {
    const h = createHarness({ ...db, url: role.url(db) }, {});
    try {
      const w = await h.startWorker();
      expect(w.output()).toContain(`[ferry] store: schema up to date at version ${latest}`);
      await w.stop();

      await db.pool.query(`INSERT INTO ferry.schema_migrations (version, name, checksum) VALUES (${latest + 1}, 'from_the_future', 'x')`);
      const refused = await h.startWorker().then(
        () => '',
        (err: Error) => err.message,
      );
      expect(refused).toContain(`the database's ferry schema is at version ${latest + 1}`);
      expect(refused).toContain('an older ferry must not run against a newer schema');
      expect(refused).not.toMatch(/\n\s+at /);
    } finally {
      await db.pool.query(`DELETE FROM ferry.schema_migrations WHERE version > ${latest}`);
      await h.close();
    }
  });
});
