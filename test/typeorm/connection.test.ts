/**
 * The connection from the application's DataSource: with FERRY_DATA_SOURCE (or --data-source) and
 * no DATABASE_URL, `ferry plan` reads the example app's PostgreSQL settings from its exported
 * DataSource, runs in its schema, and names the file (never the password) when they are wrong.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { appEnv, childEnv, copyApp, EXAMPLE_APP, ferryIn, typeorm } from './app';

let db: TestDatabase;
let dir: string;
let env: NodeJS.ProcessEnv;

const MIGRATION = `import { defineMigration } from 'ferry';
export default defineMigration({
  table: 'users',
  expand: { up: 'ALTER TABLE users ADD COLUMN IF NOT EXISTS display_name text', down: 'ALTER TABLE users DROP COLUMN IF EXISTS display_name' },
  dualWrite: { by: 'trigger', body: 'NEW.display_name := NEW.full_name;' },
  backfill: { where: 'display_name IS NULL', set: 'display_name = full_name' },
  contract: { up: 'ALTER TABLE users DROP COLUMN IF EXISTS full_name' },
});
`;

beforeAll(async () => {
  db = await createTestDatabase('typeorm_conn', { store: false });
  dir = fs.mkdtempSync(path.join(EXAMPLE_APP, '..', '..', '.ferry', 'typeorm-conn-'));
  fs.writeFileSync(path.join(dir, 'users-display-name.ts'), MIGRATION);
  // ferry's table is named with its schema; the definition's other SQL says plain `users`, as the application does.
  fs.writeFileSync(path.join(dir, 'app-schema-users.ts'), MIGRATION.replace("table: 'users'", `table: '"App Schema".users'`));
  env = childEnv({ ...appEnv(db), FERRY_MIGRATIONS: dir });
  expect((await typeorm(EXAMPLE_APP, env, 'migration:run', '-d', 'src/data-source.ts')).code).toBe(0);
  await db.pool.query(`INSERT INTO users (email, full_name) SELECT 'u' || g, 'User ' || g FROM generate_series(1, 300) g`);
});

afterAll(async () => {
  fs.rmSync(dir, { recursive: true, force: true });
  await db?.drop();
});

test('ferry plan connects through FERRY_DATA_SOURCE, without DATABASE_URL', async () => {
  const r = await ferryIn(EXAMPLE_APP, { ...env, FERRY_DATA_SOURCE: 'src/data-source.ts' }, 'plan', 'users-display-name');
  expect(r.stderr).toBe('');
  expect(r).toMatchObject({ code: 0 });
  expect(r.stdout).toContain('migration users-display-name on "public"."users"');
  expect(r.stdout).toMatch(/trial batch: +300 rows \(300 changed\)/);
});

test('--data-source does the same, and a wrong database is named by the file, password masked (exit 2)', async () => {
  const wrong = { ...env, DB_NAME: `${db.name}_missing`, DB_PASSWORD: 'not-this-one' };
  const r = await ferryIn(EXAMPLE_APP, wrong, 'plan', 'users-display-name', '--data-source', 'src/data-source.ts');
  expect(r.code).toBe(2);
  expect(r.stderr).toContain(`PostgreSQL at --data-source=src/data-source.ts (postgres://postgres:****@127.0.0.1:5432/${db.name}_missing)`);
  expect(r.stderr).toContain('the database does not exist');
  expect(r.stderr).not.toContain('not-this-one');
});

test("the DataSource's schema becomes the search_path of the definition's SQL", async () => {
  await db.pool.query('CREATE SCHEMA "App Schema"; CREATE TABLE "App Schema".users (LIKE public.users INCLUDING ALL)');
  await db.pool.query(`INSERT INTO "App Schema".users (email, full_name) SELECT 'u' || g, 'User ' || g FROM generate_series(1, 7) g`);
  const r = await ferryIn(
    EXAMPLE_APP,
    { ...env, DB_SCHEMA: 'App Schema', FERRY_DATA_SOURCE: 'src/data-source.ts' },
    'plan',
    'app-schema-users',
  );
  expect(r.stderr).toBe('');
  expect(r.stdout).toMatch(/trial batch: +7 rows \(7 changed\)/);
});

test('a file without a DataSource, or one that does not load, is refused naming it (exit 2)', async () => {
  const app = copyApp('typeorm-conn-bad');
  try {
    fs.writeFileSync(path.join(app.dir, 'src', 'none.ts'), 'export const notADataSource = 42;\n');
    const none = await ferryIn(app.dir, { ...env, FERRY_DATA_SOURCE: 'src/none.ts' }, 'plan', 'users-display-name');
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('FERRY_DATA_SOURCE="src/none.ts" exports no DataSource');
    const missing = await ferryIn(app.dir, { ...env, FERRY_DATA_SOURCE: 'src/nope.ts' }, 'plan', 'users-display-name');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('FERRY_DATA_SOURCE="src/nope.ts" does not load');
  } finally {
    app.remove();
  }
});
