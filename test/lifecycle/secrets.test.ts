/**
 * Nothing secret and no row data reaches Temporal: the worker's database password and the
 * values of the rows it migrates never appear in any run of the workflow's history (inputs,
 * results, heartbeats, failures, search attributes), even when rows fail.
 */
import path from 'node:path';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { createHarness, type Harness } from '../helpers/harness';
import { allHistories } from '../helpers/temporal';

const EXAMPLE = path.resolve(__dirname, '../../migrations/examples/services-extract-url.ts');
const PASSWORD = 'Pa55-w0rd-NEVER-in-history';
const SENTINEL = 'ROW-DATA-SENTINEL';

let db: TestDatabase;
let h: Harness;

beforeAll(async () => {
  db = await createTestDatabase('secrets');
  await db.pool.query(`
    CREATE TABLE services (id bigserial PRIMARY KEY, properties text);
    INSERT INTO services (properties)
      SELECT CASE WHEN g % 50 = 0 THEN 'not json ${SENTINEL}-' || g ELSE json_build_object('url', 'https://${SENTINEL}.example/' || g)::text END
        FROM generate_series(1, 2000) g;`);
  const url = new URL(db.url);
  url.password = PASSWORD; // trust auth ignores it; the worker still holds it in DATABASE_URL
  h = createHarness(db, { 'services-extract-url': EXAMPLE }, { DATABASE_URL: url.toString() });
  await h.startWorker();
});

afterAll(async () => {
  await h?.close();
  await db?.drop();
});

test('the password and row values never appear in the history', async () => {
  const name = h.name('services-extract-url');
  expect((await h.ferry('start', name, '--cool-off', '1s')).code).toBe(0);
  expect((await h.ferry('deployed', name)).code).toBe(0);
  await h.waitForPhase('services-extract-url', 'awaiting-approval', 90_000);
  expect((await h.ferry('approve', name, '--accept-failed-rows')).code).toBe(0); // the invalid JSON rows stay failed
  const done = await h.waitForPhase('services-extract-url', 'completed', 60_000);
  expect(done).toMatchObject({ phase: 'completed', rowsFailed: 40 });

  const history = await allHistories(`migration/${name}`);
  expect(history.length).toBeGreaterThan(1000);
  // Controls: it is the real history, with its payloads decoded (only the input has `startedBy`).
  expect(history.includes('backfillChunk')).toBe(true);
  expect(history.includes('startedBy')).toBe(true);
  expect(history.includes(PASSWORD)).toBe(false);
  expect(history.includes(SENTINEL)).toBe(false);
  expect(history.includes(db.url)).toBe(false); // no connection string at all
}, 150_000);
