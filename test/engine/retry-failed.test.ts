/**
 * `retryFailedRows` against a real PostgreSQL: recorded failed rows are re-run one by one, in set
 * and process mode, on a quoted mixed-case table with a composite key. Fixed rows (now applying,
 * or no longer matching `where`, or gone) leave `ferry.failed_rows` in the same transaction as
 * their change; rows that still fail stay, with their new error.
 */
import type { RetryFailedResult } from '../../src/contract/activities';
import type { LoadedMigration } from '../../src/definition/registry';
import { createBackfillEngine, type BackfillEngine } from '../../src/engine/engine';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { register } from '../helpers/backfill';

let db: TestDatabase;
let engine: BackfillEngine;
const migrations = new Map<string, LoadedMigration>();
const TABLE = '"Retry Case"."Odd-Table"';

beforeAll(async () => {
  db = await createTestDatabase('engine_retry_failed');
  engine = createBackfillEngine({ pool: db.pool });
  await db.pool.query(`CREATE SCHEMA "Retry Case";
    CREATE TABLE ${TABLE} ("Id" bigint, k text, raw text, data jsonb, PRIMARY KEY ("Id", k));
    INSERT INTO ${TABLE} ("Id", k, raw) SELECT g, 'k' || g, json_build_object('n', g)::text FROM generate_series(1, 6) g;
    UPDATE ${TABLE} SET raw = '{broken' WHERE "Id" IN (2, 3, 4, 5);`);
});

afterAll(() => db?.drop());

/** Records keys as failed for `name`, as the backfill would have. */
async function record(name: string, keys: [number, string][]): Promise<void> {
  for (const [id, k] of keys) {
    await db.pool.query(
      `INSERT INTO ferry.failed_rows (migration, run_id, key, sqlstate, error) VALUES ($1::text, 'run-1', ARRAY[$2::text, $3::text], '22P02', 'old')`,
      [name, String(id), k],
    );
  }
}

async function recorded(name: string): Promise<{ key: string[]; sqlstate: string | null; error: string }[]> {
  const { rows } = await db.pool.query(
    `SELECT key, sqlstate, error FROM ferry.failed_rows WHERE migration = $1::text AND run_id = 'run-1' ORDER BY key[1]::int`,
    [name],
  );
  return rows;
}

function port() {
  const beats: RetryFailedResult[] = [];
  return {
    beats,
    port: { signal: new AbortController().signal, heartbeat: (r: RetryFailedResult) => beats.push({ ...r }), log: () => undefined },
  };
}

test('set mode: a row fixed by hand, a row whose data was repaired, a deleted row leave the list; a bad row stays', async () => {
  const ref = register(migrations, 'retry-set', TABLE, {}, ['Id', 'k']);
  await record(ref.name, [
    [2, 'k2'],
    [3, 'k3'],
    [4, 'k4'],
    [5, 'k5'],
  ]);
  await db.pool.query(`UPDATE ${TABLE} SET data = '{"by": "hand"}' WHERE "Id" = 2`); // no longer matches where
  await db.pool.query(`UPDATE ${TABLE} SET raw = '{"n": 3}' WHERE "Id" = 3`); // now applies
  await db.pool.query(`DELETE FROM ${TABLE} WHERE "Id" = 4`); // gone
  const { beats, port: p } = port();

  const result = await engine.retryFailed(migrations.get(ref.name)!, { name: ref.name, runId: 'run-1' }, p);

  expect(result).toEqual({ retried: 4, fixed: 3, remaining: 1 });
  expect(beats.at(-1)).toEqual(result);
  const left = await recorded(ref.name);
  expect(left).toEqual([{ key: ['5', 'k5'], sqlstate: '22P02', error: expect.stringMatching(/invalid input syntax for type json/) }]);
  const { rows } = await db.pool.query(`SELECT "Id"::int AS id, data FROM ${TABLE} WHERE "Id" IN (2, 3, 5) ORDER BY 1`);
  expect(rows).toEqual([
    { id: 2, data: { by: 'hand' } },
    { id: 3, data: { n: 3 } },
    { id: 5, data: null },
  ]);
});

test('process mode: the rows are handed to process one by one; one that now succeeds leaves the list', async () => {
  const seen: unknown[] = [];
  const ref = register(
    migrations,
    'retry-process',
    TABLE,
    {
      where: 'data IS NULL',
      set: undefined,
      process: async (rows, ctx) => {
        for (const row of rows) {
          seen.push(row.Id);
          await ctx.client.query(`UPDATE ${TABLE} SET data = raw::jsonb WHERE "Id" = $1::bigint AND k = $2::text`, [row.Id, row.k]);
        }
      },
    },
    ['Id', 'k'],
  );
  await record(ref.name, [
    [1, 'k1'],
    [5, 'k5'],
  ]);
  await db.pool.query(`UPDATE ${TABLE} SET data = NULL WHERE "Id" = 1`);
  const { port: p } = port();

  const result = await engine.retryFailed(migrations.get(ref.name)!, { name: ref.name, runId: 'run-1' }, p);

  expect(result).toEqual({ retried: 2, fixed: 1, remaining: 1 });
  expect(seen).toEqual(['1', '5']);
  expect((await recorded(ref.name)).map((r) => r.key)).toEqual([['5', 'k5']]);
  expect((await db.pool.query(`SELECT data FROM ${TABLE} WHERE "Id" = 1`)).rows[0].data).toEqual({ n: 1 });
});

test('no recorded rows: nothing to do', async () => {
  const ref = register(migrations, 'retry-none', TABLE, {}, ['Id', 'k']);
  const { port: p } = port();
  await expect(engine.retryFailed(migrations.get(ref.name)!, { name: ref.name, runId: 'run-1' }, p)).resolves.toEqual({
    retried: 0,
    fixed: 0,
    remaining: 0,
  });
});
