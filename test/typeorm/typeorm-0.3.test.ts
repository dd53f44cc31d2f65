/**
 * ferry's TypeORM seams with TypeORM 0.3.x (0.3.31, the `typeorm-0.3` alias; the other tests here
 * run 1.x): a 0.3 DataSource file gives the connection, a ferryMigration class runs under 0.3's
 * runMigrations / undoLastMigration, `ferry generate` reads 0.3's schema builder, and
 * dualWriteSubscriber registers with 0.3 — though `require('typeorm')` in ferry resolves to 1.x here.
 */
import fs from 'node:fs';
import path from 'node:path';
import { connectionSource, loadDataSource, poolConfigOf } from '../../src/typeorm/connection';
import { generateMigration } from '../../src/typeorm/generate';
import { ferryMigration } from '../../src/typeorm/migration';
import { dualWriteSubscriber } from '../../src/typeorm/subscriber';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { createHarness, type Harness } from '../helpers/harness';
import { dataSourceFor, User, userSchema, USERS_DDL } from './typeorm-0.3-app';

const APP = path.join(__dirname, 'typeorm-0.3-app');
const VERSION = (
  JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'node_modules', 'typeorm-0.3', 'package.json'), 'utf8')) as {
    version: string;
  }
).version;

let db: TestDatabase;
let h: Harness;
let dir: string;

/** Writes a file that exports the 0.3 DataSource made by `expr` (in the fixture module's scope). */
function dataSourceFile(name: string, expr: string): string {
  const file = path.join(dir, `${name}.ts`);
  fs.writeFileSync(file, `const app = require(${JSON.stringify(APP)});\nexport const AppDataSource = ${expr};\n`);
  return file;
}

const hasColumn = async (column: string) =>
  (await db.pool.query('SELECT 1 FROM information_schema.columns WHERE table_name = $1 AND column_name = $2', ['users', column]))
    .rowCount === 1;

beforeAll(async () => {
  db = await createTestDatabase('typeorm_03');
  h = createHarness(db, {});
  dir = fs.mkdtempSync(path.join(h.dir, 'app-'));
  await db.pool.query(USERS_DDL);
  await db.pool.query(`INSERT INTO users (email, full_name) SELECT 'u' || g, 'User ' || g FROM generate_series(1, 300) g`);
});

afterAll(async () => {
  await h?.close();
  await db?.drop();
});

test('the alias is TypeORM 0.3', () => {
  expect(VERSION).toMatch(/^0\.3\./);
});

test('a 0.3 DataSource file gives the connection (loadDataSource, poolConfigOf, connectionSource)', async () => {
  const file = dataSourceFile('data-source', `app.dataSourceFor(${JSON.stringify(db.url)})`);
  const ds = await loadDataSource(file);
  expect(ds.constructor).toBe(require('typeorm-0.3').DataSource);
  expect(poolConfigOf(ds, file)).toEqual({ connectionString: db.url });
  const source = await connectionSource(undefined, { FERRY_DATA_SOURCE: file });
  expect(source.config).toEqual({ connectionString: db.url });
  expect(source.label).toBe(`FERRY_DATA_SOURCE=${file} (${db.url.replace(/\/$/, '')})`);
});

test("ferry generate reads 0.3's schema builder: a renamed column is a new column and a backfill, never DROP+ADD", async () => {
  const file = dataSourceFile(
    'data-source-after',
    `app.dataSourceFor(${JSON.stringify(db.url)}, { entities: [app.userSchema({ displayName: true, displayNameNotNull: true })] })`,
  );
  const out = path.join(dir, 'generated');
  const r = await generateMigration({ name: 'users-display-name', dataSource: file, renames: ['users.full_name:display_name'], out });
  // 0.3's schema builder renames in place (1.x drops and adds): a rename the running code cannot survive.
  expect(r.statements).toEqual([
    'ALTER TABLE "users" RENAME COLUMN "full_name" TO "display_name"',
    'ALTER TABLE "users" ALTER COLUMN "display_name" SET NOT NULL',
  ]);
  expect(r.unsafe).toEqual([]);
  const text = fs.readFileSync(r.file!, 'utf8');
  expect(text).toContain('"display_name" = "full_name"');
  const [expand, contract] = text.split(/contract:/);
  expect(expand).toMatch(/ADD (COLUMN )?(IF NOT EXISTS )?"display_name"/);
  expect(expand).not.toContain('"full_name" TO'); // no rename in place
  expect(expand).not.toMatch(/DROP COLUMN[^,]*"full_name"/); // the old column stays until the contract
  expect(contract).toContain('DROP COLUMN IF EXISTS "full_name"');
  expect(contract).toContain('"display_name" IS NOT NULL'); // NOT NULL the safe way, in the contract
  expect(await hasColumn('display_name')).toBe(false); // generate changed nothing
});

test('dualWriteSubscriber registers with a 0.3 DataSource and fills the new shape on save()', async () => {
  await db.pool.query('ALTER TABLE users ADD COLUMN display_name text');
  try {
    const Sub = dualWriteSubscriber(User, (u) => {
      if (u.fullName !== undefined) u.displayName = u.fullName;
    });
    const ds = dataSourceFor(db.url, { entities: [userSchema({ fullName: true, displayName: true })], subscribers: [Sub] });
    await ds.initialize();
    try {
      expect(ds.subscribers.map((s) => s.constructor)).toEqual([Sub]);
      const repo = ds.getRepository(User);
      const saved = await repo.save(Object.assign(new User(), { email: 'new@example.com', fullName: 'New One' }));
      const { rows } = await db.pool.query('SELECT full_name, display_name FROM users WHERE id = $1', [saved.id]);
      expect(rows).toEqual([{ full_name: 'New One', display_name: 'New One' }]);
    } finally {
      await ds.destroy();
    }
  } finally {
    await db.pool.query('DELETE FROM users WHERE email = $1', ['new@example.com']);
    await db.pool.query('ALTER TABLE users DROP COLUMN display_name');
  }
});

test("a ferryMigration class runs under 0.3's runMigrations({ transaction: 'each' }) and undoLastMigration aborts it", async () => {
  const name = h.addMigration(
    'users-display-name',
    `export default {
  table: 'users',
  expand: { up: 'ALTER TABLE users ADD COLUMN IF NOT EXISTS display_name text', down: 'ALTER TABLE users DROP COLUMN IF EXISTS display_name' },
  dualWrite: { by: 'trigger', body: 'NEW.display_name := NEW.full_name;' },
  backfill: { where: 'display_name IS NULL AND full_name IS NOT NULL', set: 'display_name = full_name', batchSize: 50, maxBatchSize: 50 },
  verify: { where: 'display_name IS DISTINCT FROM full_name' },
  contract: { up: 'ALTER TABLE users DROP COLUMN IF EXISTS full_name', after: '1h' },
};
`,
  );
  await h.startWorker();
  process.env.FERRY_TASK_QUEUE = h.env.FERRY_TASK_QUEUE;
  class UsersDisplayName1732900000000 extends ferryMigration(name, { waitFor: 'expanded', migrations: h.dir, by: 'jest' }) {}
  const ds = dataSourceFor(db.url, { migrations: [UsersDisplayName1732900000000] });
  await ds.initialize();
  try {
    const ran = await ds.runMigrations({ transaction: 'each' });
    expect(ran.map((m) => m.name)).toEqual(['UsersDisplayName1732900000000']);
    expect(await hasColumn('display_name')).toBe(true);
    const status = JSON.parse((await h.ferry('status', name, '--json')).stdout) as { phase: string };
    expect(['backfilling', 'verifying', 'cooling-off', 'awaiting-approval']).toContain(status.phase);

    await ds.undoLastMigration({ transaction: 'each' });
    expect(await hasColumn('display_name')).toBe(false);
    expect((await db.pool.query('SELECT name FROM migrations')).rows).toEqual([]);
    expect(JSON.parse((await h.ferry('status', name, '--json')).stdout)).toMatchObject({ phase: 'aborted' });
  } finally {
    await ds.destroy();
  }
});
