/**
 * The "done when", in the example application: an entity changes (a column renamed, a
 * column's type widened, an index added, a column dropped); `ferry generate` writes the migration
 * from TypeORM's schema builder; the TypeORM migration class made with ferryMigration is run by
 * `typeorm migration:run`; a ferry worker configured only with FERRY_DATA_SOURCE runs it; the
 * application (its old release and its new one) writes both shapes while the backfill runs; after
 * approval the contract leaves every row's data in the new shape, nothing lost — and TypeORM's
 * schema builder then finds nothing left to change. Nothing of the connection reaches Temporal.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { connectClient } from '../../src/client/connect';
import { control } from '../../src/client/control';
import { pauseUpdate } from '../../src/contract/messages';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { FAST_ENV } from '../helpers/harness';
import { allHistories } from '../helpers/temporal';
import { appEnv, childEnv, copyApp, EXAMPLE_APP, ferryIn, runNode, startChild, startFerryWorker, typeorm, type Child } from './app';

const NAME = `users-v2-${randomBytes(3).toString('hex')}`;
const PASSWORD = 'typeorm-Pa55-NEVER-in-history';
const SEEDED = 20_000;

let db: TestDatabase;
let app: ReturnType<typeof copyApp>;
let env: NodeJS.ProcessEnv;
const children: Child[] = [];

beforeAll(async () => {
  db = await createTestDatabase('typeorm_e2e', { store: false });
  app = copyApp('typeorm-e2e');
  env = childEnv({
    ...appEnv(db),
    DB_PASSWORD: PASSWORD, // trust auth ignores it; the worker holds it all the same
    ...FAST_ENV,
    FERRY_DATA_SOURCE: 'src/data-source.ts',
    FERRY_TASK_QUEUE: `ferry-${NAME}`,
    FERRY_USER: 'jest',
  });
  expect((await typeorm(app.dir, env, 'migration:run', '-d', 'src/data-source.ts')).code).toBe(0);
  expect((await runNode(app.dir, ['src/seed.ts', String(SEEDED)], env)).code).toBe(0);
});

afterAll(async () => {
  await Promise.all(children.map((c) => c.stop('SIGKILL')));
  app?.remove();
  await db?.drop();
});

const status = async () => JSON.parse((await ferryIn(app.dir, env, 'status', NAME, '--json')).stdout) as { phase: string; paused: boolean };

async function waitForPhase(target: string, ms = 120_000): Promise<void> {
  const deadline = Date.now() + ms;
  let last = '';
  while (Date.now() < deadline) {
    last = (await status().catch(() => ({ phase: last }))).phase;
    if (last === target) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`migration ${NAME} did not reach ${target} (last: ${last})\n${children.map((c) => c.output()).join('\n')}`);
}

test('an entity change goes from ferry generate through typeorm migration:run to a contract that loses nothing', async () => {
  // The old release runs all along, writing through save().
  const oldRelease = startChild(EXAMPLE_APP, ['src/writer.ts', 'old', String(SEEDED)], env);
  children.push(oldRelease);
  await oldRelease.waitFor('writer old: ready');

  await generateFromEntityChange();

  // The worker has only FERRY_DATA_SOURCE (no DATABASE_URL); TypeORM's CLI runs the class.
  const worker = startFerryWorker(app.dir, env);
  children.push(worker);
  await worker.waitFor('ferry worker:', 90_000);
  const run = await typeorm(app.dir, env, 'migration:run', '-d', 'src/data-source.ts');
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  expect(run.stdout).toContain(`ferry: migration ${NAME} is now backfilling`);
  // Held mid-backfill (batches of 100 rows 100 ms apart: at least 20 s for the seeded rows) while the
  // new release starts, so that it surely writes during the backfill.
  const fc = await connectClient();
  try {
    expect((await control(fc, NAME, pauseUpdate, { by: 'jest', reason: 'the new release deploys' })).phase).toBe('backfilling');
  } finally {
    await fc.close();
  }

  // The new release (display_name, bigint) deploys while the backfill is under way; both releases write.
  const newRelease = startChild(app.dir, ['src/writer.ts', 'new', String(SEEDED)], env);
  children.push(newRelease);
  await newRelease.waitFor('writer new: ready');
  expect(await status()).toMatchObject({ phase: 'backfilling', paused: true });
  expect((await ferryIn(app.dir, env, 'resume', NAME)).code).toBe(0);
  await waitForPhase('awaiting-approval');

  // The old release is retired before the contract, as the deploy order says; then the new one stops.
  for (const w of [oldRelease, newRelease]) await w.stop('SIGTERM');
  expect(oldRelease.output()).toMatch(/writer old: [1-9]\d* inserts, [1-9]\d* updates/);
  expect(newRelease.output()).toMatch(/writer new: [1-9]\d* inserts, [1-9]\d* updates/);
  const before = await db.pool.query('SELECT id, full_name, login_count FROM users ORDER BY id');
  expect(before.rowCount).toBeGreaterThan(SEEDED);
  const both = await db.pool.query(
    `SELECT count(*)::int AS wrong FROM users WHERE display_name IS DISTINCT FROM full_name OR login_count__bigint IS DISTINCT FROM login_count`,
  );
  expect(both.rows[0].wrong).toBe(0);

  expect((await ferryIn(app.dir, env, 'approve', NAME, '--by', 'jest')).code).toBe(0);
  await waitForPhase('completed');

  await expectNewShape(before.rows);

  // TypeORM recorded its migration, and its schema builder finds nothing left to change.
  expect((await typeorm(app.dir, env, 'migration:show', '-d', 'src/data-source.ts')).stdout).toMatch(/\[X\] 2 \w+V2\w*\d{13}/);
  const again = await ferryIn(app.dir, env, 'generate', `${NAME}-again`);
  expect(again).toMatchObject({ code: 0, stdout: 'the entities match the database: nothing to generate.\n' });

  expect(await allHistories(`migration/${NAME}`)).not.toContain(PASSWORD);
}, 300_000);

/** The entity changes; `ferry generate` writes the migration and the TypeORM class that runs it. */
async function generateFromEntityChange(): Promise<void> {
  fs.copyFileSync(path.join(app.dir, 'changes', 'User.after.ts'), path.join(app.dir, 'src', 'entities', 'User.ts'));
  const gen = await ferryIn(
    app.dir,
    env,
    'generate',
    NAME,
    '--rename',
    'users.full_name:display_name',
    '--typeorm-migrations',
    'src/migrations',
    '--after',
    '1s',
    '--batch-size',
    '100',
    '--pause',
    '100ms',
  );
  expect(gen.stderr).toBe('');
  expect(gen.code).toBe(0);
  expect(gen.stdout).toContain('ALTER TABLE "users" DROP COLUMN "full_name";'); // what typeorm migration:generate would do
  const generated = fs.readFileSync(path.join(app.dir, 'migrations', `${NAME}.ts`), 'utf8');
  expect(generated).toContain('CREATE INDEX CONCURRENTLY IF NOT EXISTS "users_email_idx"');
  expect(generated).toContain(
    `set: '"display_name" = "full_name", "login_count__bigint" = "login_count"::bigint', batchSize: 100, minBatchSize: 100, maxBatchSize: 100, pause: '100ms' }`,
  );
  expect(generated.slice(0, generated.indexOf('contract:'))).not.toMatch(/DROP COLUMN IF EXISTS "(full_name|login_count|legacy_code)"/);
}

/** After the contract: every row of `before` (read in the old shape) in the new shape, and the new columns. */
async function expectNewShape(before: Record<string, unknown>[]): Promise<void> {
  const after = await db.pool.query('SELECT id, display_name AS full_name, login_count FROM users ORDER BY id');
  expect(after.rows).toEqual(before.map((r) => ({ ...r, login_count: String(r.login_count) })));
  const columns = await db.pool.query(
    `SELECT column_name, data_type, is_nullable FROM information_schema.columns WHERE table_name = 'users' ORDER BY column_name`,
  );
  expect(columns.rows).toEqual([
    { column_name: 'display_name', data_type: 'text', is_nullable: 'NO' },
    { column_name: 'email', data_type: 'text', is_nullable: 'NO' },
    { column_name: 'id', data_type: 'integer', is_nullable: 'NO' },
    { column_name: 'login_count', data_type: 'bigint', is_nullable: 'NO' },
    { column_name: 'nickname', data_type: 'text', is_nullable: 'YES' },
  ]);
}
