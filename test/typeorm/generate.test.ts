/**
 * `ferry generate` refuses what it cannot do safely: a rename that matches no change writes
 * nothing (exit 2); a difference with no safe form is listed, not guessed, and the command exits 1
 * after writing the rest; without a DataSource it says how to give one.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { appEnv, childEnv, copyApp, ferryIn, typeorm } from './app';

let db: TestDatabase;
let app: ReturnType<typeof copyApp>;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  db = await createTestDatabase('typeorm_gen', { store: false });
  app = copyApp('typeorm-gen');
  env = childEnv({ ...appEnv(db), FERRY_MIGRATIONS: path.join(app.dir, 'migrations') });
  expect((await typeorm(app.dir, env, 'migration:run', '-d', 'src/data-source.ts')).code).toBe(0);
});

afterAll(async () => {
  app?.remove();
  await db?.drop();
});

const entity = (file: string) => fs.copyFileSync(path.join(app.dir, 'changes', file), path.join(app.dir, 'src', 'entities', 'User.ts'));

test('without a DataSource, generate says how to give one (exit 2)', async () => {
  const r = await ferryIn(app.dir, env, 'generate', 'x');
  expect(r.code).toBe(2);
  expect(r.stderr).toContain('--data-source src/data-source.ts (or FERRY_DATA_SOURCE)');
});

test('a --rename that matches no dropped and added column writes nothing (exit 2)', async () => {
  entity('User.after.ts');
  const r = await ferryIn(
    app.dir,
    env,
    'generate',
    'users-typo',
    '--data-source',
    'src/data-source.ts',
    '--rename',
    'users.full_name:dispaly_name',
  );
  expect(r.code).toBe(2);
  expect(r.stderr).toContain('--rename users.full_name:dispaly_name matches no column the entities drop and add');
  expect(r.stderr).toContain('added: users.display_name, users.nickname, users.login_count');
  expect(fs.existsSync(path.join(app.dir, 'migrations', 'users-typo.ts'))).toBe(false);
});

test('without --rename, a renamed column is a new column and a dropped one, never DROP+ADD in expand', async () => {
  entity('User.after.ts');
  const r = await ferryIn(app.dir, env, 'generate', 'users-no-rename', '--data-source', 'src/data-source.ts');
  expect(r.code).toBe(1); // display_name is NOT NULL without a default: no safe form without --rename
  expect(r.stdout).toContain('not in the migration: ALTER TABLE "users" ADD "display_name" text NOT NULL');
  expect(r.stderr).toContain('1 difference has no safe form');
  const file = fs.readFileSync(path.join(app.dir, 'migrations', 'users-no-rename.ts'), 'utf8');
  expect(file).toContain('// NOT in this migration (no safe form; write them by hand):');
  expect(file).toContain(`'ALTER TABLE "users" ALTER COLUMN "full_name" DROP NOT NULL'`); // expand: code without it can insert
  expect(file).toMatch(/contract: \{\s+up: \[[^\]]*'ALTER TABLE "users" DROP COLUMN IF EXISTS "full_name"'/);
  expect(file).toContain('"login_count__bigint" = "login_count"::bigint'); // the type change is still a copy, not a DROP+ADD
});

test('--batch-size and --pause go into the migration; a wrong one is refused before anything is written (exit 2)', async () => {
  entity('User.after.ts');
  const args = ['--data-source', 'src/data-source.ts', '--rename', 'users.full_name:display_name'];
  for (const [flag, value, message] of [
    ['--batch-size', '1e3', '--batch-size "1e3" is not a whole number of rows from 1 to 1,000,000; nothing was written.'],
    ['--batch-size', '0', '--batch-size "0" is not a whole number of rows from 1 to 1,000,000; nothing was written.'],
    ['--pause', '200', '--pause "200" has no unit; write it like "200s" or "200ms"'],
  ]) {
    const bad = await ferryIn(app.dir, env, 'generate', 'users-bad-flag', ...args, flag, value);
    expect(bad).toMatchObject({ code: 2, stdout: '' });
    expect(bad.stderr).toContain(message);
  }
  expect(fs.existsSync(path.join(app.dir, 'migrations', 'users-bad-flag.ts'))).toBe(false);

  const r = await ferryIn(app.dir, env, 'generate', 'users-paced', ...args, '--batch-size', '250', '--pause', '40ms');
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const file = fs.readFileSync(path.join(app.dir, 'migrations', 'users-paced.ts'), 'utf8');
  expect(file).toMatch(/backfill: \{ where: .*, batchSize: 250, minBatchSize: 250, maxBatchSize: 250, pause: '40ms' \},/);
  const plain = await ferryIn(app.dir, env, 'generate', 'users-adaptive', ...args);
  expect(plain.code).toBe(0);
  expect(fs.readFileSync(path.join(app.dir, 'migrations', 'users-adaptive.ts'), 'utf8')).not.toMatch(/batchSize|pause/);
});
