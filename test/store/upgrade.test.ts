/**
 * Upgrading an install of ferry 0.1.0, whose schema had no version (ensureStateSchema before each
 * activity), to the versioned schema: the tables are adopted as version 1 with their live
 * checkpoints and failed rows intact, and a migration that was mid-backfill resumes from its
 * checkpoint, leaving the rows before it untouched.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createBackfillActivities, fixedBatchSizer } from '../../src/activities/backfill';
import type { LoadedMigration } from '../../src/definition/registry';
import { loadStoreMigrations } from '../../src/store/files';
import { migrateStore, storeStatus } from '../../src/store/migrate';
import { activityEnv, createTouchFunction, makeTable, register, runChunk, touchHistogram } from '../helpers/backfill';
import { createTestDatabase, type TestDatabase } from '../helpers/db';

const UNVERSIONED = fs.readFileSync(path.join(__dirname, '..', 'fixtures', 'store', 'unversioned-0.1.0.sql'), 'utf8');
const latest = loadStoreMigrations().length;

let db: TestDatabase;
const migrations = new Map<string, LoadedMigration>();

beforeAll(async () => {
  db = await createTestDatabase('store_upgrade', { store: false });
});
afterAll(() => db?.drop());

/** Every row of ferry's state tables, for before/after comparison. */
async function state(): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {};
  for (const table of ['backfill_checkpoints', 'failed_rows', 'completed_migrations', 'deploy_marks']) {
    const { rows } = await db.pool.query(`SELECT * FROM ferry.${table} ORDER BY 1, 2, 3`);
    out[table] = rows;
  }
  return out;
}

test('a 0.1.0 install mid-backfill upgrades in place and the backfill resumes from its checkpoint', async () => {
  // ferry 0.1.0's schema, created the old way (twice, as every activity ran it).
  await db.pool.query(UNVERSIONED);
  await db.pool.query(UNVERSIONED);

  // A table whose migration "upgrade-orders" (run r1) was backfilled up to id 400 by 0.1.0: rows
  // 1..400 are done, written with the counting trigger off so that every row's touches is 0; row
  // 150 failed and was recorded, so it still has no data. Rows 401..1000 are still to do.
  await createTouchFunction(db.pool);
  await makeTable(db.pool, 'orders_old', 1000);
  await db.pool.query(`ALTER TABLE orders_old DISABLE TRIGGER touch;
    UPDATE orders_old SET data = raw::jsonb WHERE id <= 400 AND id <> 150;
    ALTER TABLE orders_old ENABLE TRIGGER touch`);
  await db.pool.query(`INSERT INTO ferry.backfill_checkpoints
      (migration, run_id, partition, pass, lower_key, upper_key, last_key, rows_scanned, rows_updated, rows_failed, batches, batch_size)
    VALUES ('upgrade-orders', 'r1', 0, 1, NULL, NULL, ARRAY['400'], 400, 399, 1, 4, 100),
           ('older-done', 'r0', 0, 2, NULL, NULL, ARRAY['77'], 77, 70, 7, 2, 50)`);
  await db.pool.query(`UPDATE ferry.backfill_checkpoints SET done = true WHERE migration = 'older-done'`);
  await db.pool.query(`INSERT INTO ferry.failed_rows (migration, run_id, key, sqlstate, error) VALUES
      ('upgrade-orders', 'r1', ARRAY['150'], '22P02', 'invalid input syntax for type json'),
      ('older-done', 'r0', ARRAY['3'], '23505', 'duplicate key')`);
  await db.pool.query(`INSERT INTO ferry.completed_migrations (migration, spec_hash) VALUES ('older-done', 'abc123')`);
  await db.pool.query(
    `INSERT INTO ferry.deploy_marks (migration, run_id, xid_mark, max_key) VALUES ('upgrade-orders', 'r1', '1234', ARRAY['1000'])`,
  );
  const before = await state();

  expect(await storeStatus(db.pool)).toMatchObject({
    current: 0,
    latest,
    pending: loadStoreMigrations().map(({ version, name }) => ({ version, name })),
  });
  const upgraded = await migrateStore(db.pool);
  expect(upgraded).toEqual({ from: 0, to: latest, applied: loadStoreMigrations().map(({ version, name }) => ({ version, name })) });
  expect(await state()).toEqual(before);
  const { rows: versions } = await db.pool.query('SELECT version, name FROM ferry.schema_migrations ORDER BY version');
  expect(versions).toEqual(loadStoreMigrations().map(({ version, name }) => ({ version, name })));
  await expect(migrateStore(db.pool)).resolves.toMatchObject({ applied: [] });

  // The new worker picks the backfill up where 0.1.0 left it.
  const ref = register(migrations, 'upgrade-orders', 'orders_old', { batchSize: 100 });
  const acts = createBackfillActivities(
    { pool: db.pool, migrations, log: () => undefined },
    { batchSizer: (m) => fixedBatchSizer(m.definition.backfill.batchSize) },
  );
  const { env } = activityEnv();
  let scanned = 0;
  for (let i = 0; i < 50; i++) {
    const r = await runChunk(env, acts, { ...ref, runId: 'r1', partition: 0, maxMs: 60_000 });
    scanned += r.rowsScanned;
    if (r.done) break;
  }

  expect(scanned).toBe(600); // ids 401..1000 only
  expect(await touchHistogram(db.pool, 'orders_old', 'id <= 400')).toEqual({ '0': 400 }); // before the checkpoint: untouched
  expect(await touchHistogram(db.pool, 'orders_old', 'id > 400')).toEqual({ '1': 600 }); // after it: each row once
  const { rows: row150 } = await db.pool.query('SELECT data, touches FROM orders_old WHERE id = 150');
  expect(row150[0]).toEqual({ data: null, touches: 0 }); // the recorded failed row was not retried
  const { rows: left } = await db.pool.query('SELECT count(*)::int AS n FROM orders_old WHERE data IS NULL');
  expect(left[0].n).toBe(1);

  const { rows: cp } = await db.pool.query(
    `SELECT done, last_key, rows_scanned::int, rows_updated::int, rows_failed::int, batches::int > 4 AS more_batches
       FROM ferry.backfill_checkpoints WHERE migration = 'upgrade-orders' AND run_id = 'r1' AND partition = 0`,
  );
  expect(cp[0]).toEqual({ done: true, last_key: ['1000'], rows_scanned: 1000, rows_updated: 999, rows_failed: 1, more_batches: true });
  const after = await state();
  expect(after.failed_rows).toEqual(before.failed_rows);
  expect(after.completed_migrations).toEqual(before.completed_migrations);
});
