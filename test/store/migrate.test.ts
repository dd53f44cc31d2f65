/**
 * ferry's versioned schema: applied once, in order, under a lock, recorded; refused when the
 * database is newer than this ferry or a file changed; no DDL (so no CREATE privilege needed)
 * when nothing is pending.
 */
import { FerryError } from '../../src/contract/errors';
import { checksumOf, loadStoreMigrations, type StoreMigration } from '../../src/store/files';
import { migrateStore, storeStatus } from '../../src/store/migrate';
import { createTestDatabase, createTestRole, type TestDatabase, type TestRole } from '../helpers/db';

const shipped = loadStoreMigrations();
const latest = shipped[shipped.length - 1].version;

/** This ferry's files plus one more: what a newer ferry would ship. */
function withExtra(sql = 'CREATE TABLE ferry.extra_test (id int PRIMARY KEY)'): StoreMigration[] {
  const version = latest + 1;
  return [
    ...shipped,
    { version, name: 'extra_test', file: `${String(version).padStart(4, '0')}_extra_test.sql`, sql, checksum: checksumOf(sql) },
  ];
}

async function rejection(promise: Promise<unknown>): Promise<FerryError> {
  const err = await promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(FerryError);
  return err as FerryError;
}

const dbs: TestDatabase[] = [];
async function freshDb(prefix: string): Promise<TestDatabase> {
  const db = await createTestDatabase(prefix, { store: false });
  dbs.push(db);
  return db;
}
afterAll(async () => {
  await Promise.all(dbs.map((db) => db.drop()));
});

test('a fresh database gets every file, recorded with its checksum; a second run changes nothing', async () => {
  const db = await freshDb('store_fresh');
  expect(await storeStatus(db.pool)).toMatchObject({
    current: 0,
    latest,
    pending: shipped.map(({ version, name }) => ({ version, name })),
  });

  const logged: string[] = [];
  const first = await migrateStore(db.pool, { log: (m) => logged.push(m) });
  expect(first).toEqual({ from: 0, to: latest, applied: shipped.map(({ version, name }) => ({ version, name })) });
  expect(logged).toContain('store: applied 0001_initial.sql');

  const { rows } = await db.pool.query('SELECT version, name, checksum FROM ferry.schema_migrations ORDER BY version');
  expect(rows).toEqual(shipped.map((m) => ({ version: m.version, name: m.name, checksum: m.checksum })));
  const tables = await db.pool.query(`SELECT tablename FROM pg_tables WHERE schemaname = 'ferry' ORDER BY tablename`);
  expect(tables.rows.map((r) => r.tablename)).toEqual([
    'backfill_checkpoints',
    'completed_migrations',
    'deploy_marks',
    'failed_rows',
    'latency_probes',
    'rate_budgets',
    'schema_migrations',
  ]);

  await expect(migrateStore(db.pool)).resolves.toEqual({ from: latest, to: latest, applied: [] });
  expect(await storeStatus(db.pool)).toMatchObject({ current: latest, latest, pending: [], unknown: [], changed: [] });
});

test('two workers starting at once: both succeed, each file is applied once', async () => {
  const db = await freshDb('store_race');
  const results = await Promise.all([
    migrateStore(db.pool, { migrations: withExtra() }),
    migrateStore(db.pool, { migrations: withExtra() }),
  ]);
  expect(results.map((r) => r.applied.length).sort()).toEqual([0, latest + 1]);
  const { rows } = await db.pool.query('SELECT version, count(*)::int AS n FROM ferry.schema_migrations GROUP BY version ORDER BY version');
  expect(rows).toEqual(withExtra().map((m) => ({ version: m.version, n: 1 })));
  // The lock is released: a third run gets it at once.
  await expect(migrateStore(db.pool, { migrations: withExtra() })).resolves.toMatchObject({ applied: [] });
});

test('an older ferry refuses a database a newer ferry upgraded, and changes nothing', async () => {
  const db = await freshDb('store_newer');
  await migrateStore(db.pool, { migrations: withExtra() });
  const err = await rejection(migrateStore(db.pool));
  expect(err.code).toBe('FAILED');
  expect(err.message).toContain(`at version ${latest + 1}`);
  expect(err.message).toContain(`${String(latest + 1).padStart(4, '0')}_extra_test applied by a newer ferry`);
  expect(err.message).toContain(`this ferry knows versions up to ${latest}`);
  expect(err.message).toContain(`Run the ferry release that applied version ${latest + 1}`);
  expect(err.message).toContain('nothing was changed');
  expect(await storeStatus(db.pool)).toMatchObject({ current: latest + 1, latest, unknown: [{ version: latest + 1, name: 'extra_test' }] });
});

test('an applied file whose text changed is refused', async () => {
  const db = await freshDb('store_checksum');
  await migrateStore(db.pool);
  const edited = shipped.map((m) =>
    m.version === 1 ? { ...m, sql: `${m.sql}\n-- edited`, checksum: checksumOf(`${m.sql}\n-- edited`) } : m,
  );
  const err = await rejection(migrateStore(db.pool, { migrations: edited }));
  expect(err.message).toContain('0001_initial');
  expect(err.message).toContain('checksum mismatch');
  expect(err.message).toContain('put the change in a new numbered file');
  // A CRLF checkout of the same file is the same file.
  const crlf = shipped.map((m) => ({ ...m, sql: m.sql.replace(/\n/g, '\r\n'), checksum: checksumOf(m.sql.replace(/\n/g, '\r\n')) }));
  await expect(migrateStore(db.pool, { migrations: crlf })).resolves.toMatchObject({ applied: [] });
});

test('a file that fails leaves the versions before it applied and itself not at all', async () => {
  const db = await freshDb('store_failing');
  const broken = withExtra('CREATE TABLE ferry.half_done (id int); SELECT no_such_function()');
  const err = await rejection(migrateStore(db.pool, { migrations: broken }));
  expect(err.message).toContain(`ferry schema file ${broken[broken.length - 1].file} failed`);
  expect(err.message).toContain(
    latest === 1 ? 'version 1 was applied' : `versions ${shipped.map((m) => m.version).join(', ')} were applied`,
  );
  expect(await storeStatus(db.pool)).toMatchObject({ current: latest });
  const { rows } = await db.pool.query(`SELECT to_regclass('ferry.half_done') IS NULL AS gone`);
  expect(rows[0].gone).toBe(true);
});

describe('a worker role without CREATE privilege', () => {
  let role: TestRole;
  beforeAll(async () => {
    role = await createTestRole('ferry_nocreate');
  });
  afterAll(async () => {
    await Promise.all(dbs.splice(0).map((db) => db.drop()));
    await role.drop();
  });

  test('fails naming ferry setup while files are pending, and runs (no DDL) once they are applied', async () => {
    const db = await freshDb('store_nocreate');
    const worker = role.pool(db);

    const pending = await rejection(migrateStore(worker));
    expect(pending.message).toContain(`ferry's schema is at version 0 and this ferry needs version ${latest}`);
    expect(pending.message).toContain('pending: 0001_initial');
    expect(pending.message).toContain(`role "${role.name}" may not create it`);
    expect(pending.message).toContain('Run "ferry setup" with DATABASE_URL of an owner role');
    expect(pending.message).toContain(`--grant-to ${role.name}`);

    await migrateStore(db.pool); // the DBA, as owner
    const unreadable = await rejection(migrateStore(worker));
    expect(unreadable.message).toContain(`role "${role.name}" may not read ferry.schema_migrations`);
    expect(unreadable.message).toContain(`ferry setup --grant-to ${role.name}`);

    await db.pool.query(`GRANT USAGE ON SCHEMA ferry TO "${role.name}"; GRANT SELECT ON ferry.schema_migrations TO "${role.name}"`);
    await expect(migrateStore(worker)).resolves.toEqual({ from: latest, to: latest, applied: [] });

    // A newer ferry's file pending: the worker still may not apply it.
    const newer = await rejection(migrateStore(worker, { migrations: withExtra() }));
    expect(newer.message).toContain(`pending: ${String(latest + 1).padStart(4, '0')}_extra_test`);
    expect(newer.message).toContain('ferry setup');
  });
});
