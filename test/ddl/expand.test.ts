/**
 * The worker checks the DDL again before its expand (a `ferry start` without DATABASE_URL could
 * not): a dangerous form fails the activity for good (INVALID_DEFINITION, not retried) before any
 * statement runs; with the override, the expand runs, the concurrent build outside a transaction.
 */
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import type { ActivityDeps } from '../../src/activities/context';
import { createExpandActivities } from '../../src/activities/expand';
import { defineMigration, type MigrationDefinitionInput } from '../../src/definition/define';
import { specHash, type LoadedMigration } from '../../src/definition/registry';
import { createTestDatabase, type TestDatabase } from '../helpers/db';

let db: TestDatabase;
const migrations = new Map<string, LoadedMigration>();

function add(name: string, input: MigrationDefinitionInput) {
  const definition = defineMigration(input);
  const m: LoadedMigration = { name, file: `${name}.ts`, definition, specHash: specHash(definition) };
  migrations.set(name, m);
  return { name, specHash: m.specHash };
}

const base = (up: string[], extra: Partial<MigrationDefinitionInput> = {}): MigrationDefinitionInput => ({
  table: 'items',
  expand: { up, down: 'ALTER TABLE items DROP COLUMN IF EXISTS w' },
  backfill: { where: 'w IS NULL', set: 'w = v' },
  contract: { up: 'SELECT 1' },
  ...extra,
});

const UP = ['ALTER TABLE items ADD COLUMN IF NOT EXISTS w int', 'CREATE INDEX IF NOT EXISTS items_w ON items (w)'];

beforeAll(async () => {
  db = await createTestDatabase('ddl_expand');
  await db.pool.query(
    `CREATE TABLE items (id int PRIMARY KEY, v int); INSERT INTO items SELECT g, g FROM generate_series(1, 100) g; ANALYZE items;`,
  );
});

afterAll(() => db?.drop());

function expand(ref: { name: string; specHash: string }) {
  const deps: ActivityDeps = { pool: db.pool, migrations };
  const env = new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });
  return env.run(createExpandActivities(deps).expand, ref);
}

const hasColumn = async () =>
  (await db.pool.query(`SELECT count(*)::int AS n FROM pg_attribute WHERE attrelid = 'items'::regclass AND attname = 'w'`)).rows[0].n === 1;

test('a dangerous form fails the expand for good, before its first statement runs', async () => {
  const err = (await expand(add('refused', base(UP))).catch((e: unknown) => e)) as ApplicationFailure;
  expect(err).toBeInstanceOf(ApplicationFailure);
  expect(err.type).toBe('INVALID_DEFINITION');
  expect(err.nonRetryable).toBe(true);
  expect(err.message).toContain('expand.up[1] [index-not-concurrent]');
  expect(await hasColumn()).toBe(false); // statement 1, harmless, did not run either
});

test('overridden, the expand runs it; the safe form runs outside a transaction', async () => {
  const reason = 'a hundred rows: the build takes a millisecond';
  await expect(expand(add('allowed', base(UP, { unsafe: [{ check: 'index-not-concurrent', reason }] })))).resolves.toMatchObject({
    statements: 2,
  });
  expect(await hasColumn()).toBe(true);
  await db.pool.query('DROP INDEX items_w');
  const safe = add(
    'safe',
    base(['ALTER TABLE items ADD COLUMN IF NOT EXISTS w int', 'CREATE INDEX CONCURRENTLY IF NOT EXISTS items_w ON items (w)']),
  );
  await expect(expand(safe)).resolves.toMatchObject({ statements: 2 });
  const { rows } = await db.pool.query(`SELECT indisvalid FROM pg_index WHERE indexrelid = 'items_w'::regclass`);
  expect(rows).toEqual([{ indisvalid: true }]);
});
