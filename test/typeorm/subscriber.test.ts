/**
 * dualWriteSubscriber in an application that writes with save(): rows it inserts and saves carry
 * both shapes; a Repository.update() reaches no subscriber with a row (typeorm#2246, #9973), so
 * it bypasses the dual write — and ferry's dual-write probe catches exactly those rows.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ferryIn, runNode } from './app';
import { startAppWorker, type AppWorker } from './app-worker';

const NAME = `users-app-dw-${randomBytes(3).toString('hex')}`;

let setup: AppWorker | undefined;
let db: AppWorker['db'];
let app: AppWorker['app'];
let env: AppWorker['env'];

/** The application's writes after the deploy: 5 inserts by save(), one update by save(), two by update(). */
const WRITES = `import { AppDataSource } from './data-source';
import { User } from './entities/User';
(async () => {
  await AppDataSource.initialize();
  const repo = AppDataSource.getRepository(User);
  const ids: number[] = [];
  for (let i = 1; i <= 5; i++) ids.push((await repo.save(repo.create({ email: 'n' + i + '@example.com', fullName: 'New ' + i }))).id);
  const saved = await repo.findOneByOrFail({ id: ids[0] });
  saved.fullName = 'Saved again';
  await repo.save(saved);
  await repo.update(ids[1], { fullName: 'Updated 1' });
  await repo.update({ id: ids[2] }, { fullName: 'Updated 2' });
  console.log(JSON.stringify(ids));
  await AppDataSource.destroy();
})();
`;

beforeAll(async () => {
  setup = await startAppWorker({
    label: 'typeorm-sub',
    name: NAME,
    users: 200,
    // A probe window long enough for the application's writes after the deploy signal.
    env: { FERRY_PROBE_WINDOW: '20s' },
    migration: `import { defineMigration } from 'ferry';
export default defineMigration({
  table: 'users',
  expand: { up: 'ALTER TABLE users ADD COLUMN IF NOT EXISTS display_name text', down: 'ALTER TABLE users DROP COLUMN IF EXISTS display_name' },
  dualWrite: { by: 'app' },
  backfill: { where: 'display_name IS NULL', set: 'display_name = full_name' },
  verify: { where: 'display_name IS DISTINCT FROM full_name' },
  contract: { up: 'ALTER TABLE users DROP COLUMN IF EXISTS full_name' },
});
`,
    // The release that writes both shapes: the entity with both columns and its dual-write subscriber.
    prepare: (dir) => {
      fs.copyFileSync(path.join(dir, 'changes', 'User.during.ts'), path.join(dir, 'src', 'entities', 'User.ts'));
      fs.mkdirSync(path.join(dir, 'src', 'subscribers'));
      fs.copyFileSync(path.join(dir, 'changes', 'UserDualWrite.ts'), path.join(dir, 'src', 'subscribers', 'UserDualWrite.ts'));
      fs.writeFileSync(path.join(dir, 'src', 'writes.ts'), WRITES);
    },
  });
  ({ db, app, env } = setup);
});

afterAll(async () => {
  if (setup) await ferryIn(setup.app.dir, setup.env, 'abort', NAME, '--rollback').catch(() => undefined);
  await setup?.close();
});

test('the probe counts the rows an update() wrote past the subscriber, and only those', async () => {
  expect((await ferryIn(app.dir, env, 'start', NAME, '--wait-for', 'awaiting-deploy')).code).toBe(0);
  expect((await ferryIn(app.dir, env, 'deployed', NAME, '--reason', 'release with UserDualWrite')).code).toBe(0);
  const writes = await runNode(app.dir, ['src/writes.ts'], env);
  expect(writes.code).toBe(0);
  expect(writes.stderr).toContain('ferry: dualWriteSubscriber(User): an update() or QueryBuilder update bypassed the dual write');
  const ids = JSON.parse(writes.stdout) as number[];
  const { rows } = await db.pool.query('SELECT id, full_name, display_name FROM users WHERE id = ANY($1::int[]) ORDER BY id', [ids]);
  expect(rows).toEqual([
    { id: ids[0], full_name: 'Saved again', display_name: 'Saved again' },
    { id: ids[1], full_name: 'Updated 1', display_name: 'New 2' }, // update(): the subscriber had no row
    { id: ids[2], full_name: 'Updated 2', display_name: 'New 3' },
    { id: ids[3], full_name: 'New 4', display_name: 'New 4' },
    { id: ids[4], full_name: 'New 5', display_name: 'New 5' },
  ]);

  let probe: { ok: boolean; badRows: number } | undefined;
  for (const deadline = Date.now() + 60_000; !probe && Date.now() < deadline; await new Promise((r) => setTimeout(r, 500))) {
    probe = JSON.parse((await ferryIn(app.dir, env, 'status', NAME, '--json')).stdout).probe;
  }
  expect(probe).toMatchObject({ ok: false, badRows: 2 });
  const status = await ferryIn(app.dir, env, 'status', NAME);
  expect(status.stdout).toContain('2 rows written after the deploy signal lack the new shape');
  expect(status.stdout).toMatch(/awaiting-deploy/);
});
