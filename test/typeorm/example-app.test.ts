/**
 * The example application is a real TypeORM 1.x app: TypeORM's own CLI runs and reverts its
 * migrations from its DataSource, and its seed writes rows through TypeORM.
 */
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { appEnv, childEnv, EXAMPLE_APP, runNode, typeorm } from './app';

let db: TestDatabase;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  db = await createTestDatabase('typeorm_app', { store: false });
  env = childEnv(appEnv(db));
});

afterAll(() => db?.drop());

const tableExists = async (name: string) => (await db.pool.query('SELECT to_regclass($1::text) AS t', [name])).rows[0].t !== null;
const recorded = async () => (await db.pool.query('SELECT name FROM migrations ORDER BY id')).rows.map((r) => r.name);

test('typeorm migration:run, migration:show and migration:revert drive the example app from its DataSource', async () => {
  const run = await typeorm(EXAMPLE_APP, env, 'migration:run', '-d', 'src/data-source.ts');
  expect(run).toMatchObject({ code: 0 });
  expect(run.stdout).toContain('Migration InitialSchema1732800000000 has been executed successfully.');
  expect(await tableExists('users')).toBe(true);
  expect(await recorded()).toEqual(['InitialSchema1732800000000']);

  const seeded = await runNode(EXAMPLE_APP, ['src/seed.ts', '1500'], env);
  expect(seeded).toMatchObject({ code: 0, stdout: 'seeded 1500 users\n' });
  const { rows } = await db.pool.query('SELECT count(*)::int AS n, count(legacy_code)::int AS legacy, max(full_name) AS max FROM users');
  expect(rows[0]).toEqual({ n: 1500, legacy: 500, max: 'User 999' });

  const show = await typeorm(EXAMPLE_APP, env, 'migration:show', '-d', 'src/data-source.ts');
  expect(show.stdout).toContain('[X] 1 InitialSchema1732800000000');

  const revert = await typeorm(EXAMPLE_APP, env, 'migration:revert', '-d', 'src/data-source.ts');
  expect(revert).toMatchObject({ code: 0 });
  expect(revert.stdout).toContain('Migration InitialSchema1732800000000 has been reverted successfully.');
  expect(await tableExists('users')).toBe(false);
  expect(await recorded()).toEqual([]);

  expect((await typeorm(EXAMPLE_APP, env, 'migration:run', '-d', 'src/data-source.ts')).code).toBe(0);
  expect(await tableExists('users')).toBe(true);
});
