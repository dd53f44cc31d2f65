/**
 * A TypeORM migration class made with `ferryMigration` is run by `typeorm migration:run`: it starts
 * the ferry migration (once, however many deploys run it), waits until expand is done, and TypeORM
 * records it; `typeorm migration:revert` aborts it with rollback before the contract and refuses
 * after. The worker is configured only with FERRY_DATA_SOURCE.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ferryIn, typeorm } from './app';
import { startAppWorker, type AppWorker } from './app-worker';

const NAME = `users-display-name-${randomBytes(3).toString('hex')}`;
const CLASS = 'UsersDisplayName1732900000000';

let setup: AppWorker | undefined;
let db: AppWorker['db'];
let app: AppWorker['app'];
let env: AppWorker['env'];
let worker: AppWorker['worker'];

beforeAll(async () => {
  setup = await startAppWorker({
    label: 'typeorm-mig',
    name: NAME,
    users: 500,
    env: { FERRY_USER: 'jest' },
    migration: `import { defineMigration } from 'ferry';
export default defineMigration({
  table: 'users',
  expand: { up: 'ALTER TABLE users ADD COLUMN IF NOT EXISTS display_name text', down: 'ALTER TABLE users DROP COLUMN IF EXISTS display_name' },
  dualWrite: { by: 'trigger', body: 'NEW.display_name := NEW.full_name;' },
  backfill: { where: 'display_name IS NULL AND full_name IS NOT NULL', set: 'display_name = full_name', batchSize: 50, maxBatchSize: 50 },
  verify: { where: 'display_name IS DISTINCT FROM full_name' },
  contract: { up: 'ALTER TABLE users DROP COLUMN IF EXISTS full_name', after: '1s' },
});
`,
    prepare: (dir) =>
      fs.writeFileSync(
        path.join(dir, 'src', 'migrations', `1732900000000-UsersDisplayName.ts`),
        `import { ferryMigration } from 'ferry/typeorm';\n\nexport class ${CLASS} extends ferryMigration('${NAME}', { waitFor: 'expanded' }) {}\n`,
      ),
  });
  ({ db, app, env, worker } = setup);
});

afterAll(() => setup?.close());

const recorded = async () => (await db.pool.query('SELECT name FROM migrations ORDER BY id')).rows.map((r) => r.name);
const hasColumn = async (column: string) =>
  (await db.pool.query('SELECT 1 FROM information_schema.columns WHERE table_name = $1 AND column_name = $2', ['users', column]))
    .rowCount === 1;
const phase = async () => JSON.parse((await ferryIn(app.dir, env, 'status', NAME, '--json')).stdout).phase as string;
const run = () => typeorm(app.dir, env, 'migration:run', '-d', 'src/data-source.ts');
const revert = () => typeorm(app.dir, env, 'migration:revert', '-d', 'src/data-source.ts');

test("TypeORM's default transaction mode 'all' refuses the class before anything starts", async () => {
  const r = await typeorm(app.dir, env, 'migration:run', '-d', 'src/data-source.ts', '-t', 'all');
  expect(r.code).toBe(1);
  expect(r.stderr + r.stdout).toContain('ForbiddenTransactionModeOverrideError');
  expect((await ferryIn(app.dir, env, 'status', NAME)).code).toBe(2); // not started
});

test('migration:run starts it and waits for expanded; a second deploy joins the same migration', async () => {
  const r = await run();
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect(r.stdout).toContain(`ferry: migration ${NAME} started`);
  expect(r.stdout).toMatch(new RegExp(`ferry: migration ${NAME} is now (backfilling|verifying|cooling-off|awaiting-approval)`));
  expect(r.stdout).toContain(`Migration ${CLASS} has been executed successfully.`);
  expect(await recorded()).toEqual(['InitialSchema1732800000000', CLASS]);
  expect(await hasColumn('display_name')).toBe(true);

  // Another deploy whose TypeORM did not see the record yet: the same workflow id, one migration.
  await db.pool.query('DELETE FROM migrations WHERE name = $1', [CLASS]);
  const again = await run();
  expect(again.code).toBe(0);
  expect(again.stdout).toContain(`ferry: migration ${NAME} already running`);
});

test('migration:revert before the contract aborts it with rollback, and TypeORM forgets it', async () => {
  const r = await revert();
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect(r.stdout).toContain(`ferry: migration ${NAME} aborted and rolled back`);
  expect(await hasColumn('display_name')).toBe(false);
  expect(await recorded()).toEqual(['InitialSchema1732800000000']);
  expect(await phase()).toBe('aborted');
  const history = (await ferryIn(app.dir, env, 'history', NAME)).stdout;
  expect(history).toContain('typeorm migration:revert');
});

test('after the contract, migration:revert refuses and TypeORM keeps the record', async () => {
  const r = await run();
  expect(r.code).toBe(0);
  expect(r.stdout).toContain('was aborted');
  await waitFor('awaiting-approval');
  expect((await ferryIn(app.dir, env, 'approve', NAME, '--by', 'jest')).code).toBe(0);
  await waitFor('completed');
  expect(await hasColumn('full_name')).toBe(false);
  const { rows } = await db.pool.query('SELECT count(*)::int AS n, count(*) FILTER (WHERE display_name = $1)::int AS one FROM users', [
    'User 1',
  ]);
  expect(rows[0]).toEqual({ n: 500, one: 1 });

  const refused = await revert();
  expect(refused.code).toBe(1);
  expect(refused.stderr + refused.stdout).toContain(`ferry migration "${NAME}" is completed: its contract drops the old shape`);
  expect(await recorded()).toEqual(['InitialSchema1732800000000', CLASS]);
});

async function waitFor(target: string, ms = 90_000): Promise<void> {
  const deadline = Date.now() + ms;
  let last = '';
  while (Date.now() < deadline) {
    last = await phase().catch(() => last);
    if (last === target) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`migration ${NAME} did not reach ${target} in ${ms} ms (last: ${last})\n${worker.output()}`);
}
