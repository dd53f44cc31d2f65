/**
 * Seed 000 end to end through the CLI and a `ferry worker` process: every account's legacy vendor
 * id is looked up in the new vendor's API (a local HTTP server) from `backfill.process`, no faster
 * than `rateLimit.perSecond`; ids the vendor does not know are recorded in ferry.failed_rows and
 * skipped after a bounded number of requests; the contract drops `legacy_vendor_id`.
 */
import path from 'node:path';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { createHarness, variantSource, type Harness } from '../helpers/harness';
import { peakRequests, startVendorServer, type VendorServer } from '../helpers/vendor-server';

const EXAMPLE = path.resolve(__dirname, '../../migrations/examples/vendor-uuid.ts');
const ROWS = 1000;
/**
 * Lower than the example's 500/s: the limiter, not the work per row, then sets the pace (unlimited,
 * a worker asked about 500 ids a second here), over some ten one-second windows.
 */
const PER_SECOND = 150;
/** Leniency: a one-second window may hold 10% more calls than the rate (the limiter's burst is 1). */
const BURST = 0.1 * PER_SECOND;
/**
 * A batch of 50 fails whole, then each half holding the unknown id is tried down to two rows
 * (25, 13, 7, 4, 2), then the id alone: 7 requests; the re-run of the failed rows after the
 * cool-off asks once more: 8. One spare.
 */
const MAX_REQUESTS_PER_UNKNOWN_ID = 9;

/** The seeded legacy id of account `id`; every 100th account from 50 has none. */
const legacyId = (id: number): number | null => (id % 100 === 50 ? null : 1000 + 7 * id);
/** The vendor does not know legacy ids divisible by 97. */
const knownToVendor = (legacy: string) => Number(legacy) % 97 !== 0;
const ACCOUNT_IDS = Array.from({ length: ROWS }, (_, i) => i + 1);
const UNKNOWN_IDS = ACCOUNT_IDS.filter((id) => legacyId(id) !== null && !knownToVendor(String(legacyId(id))));

let db: TestDatabase;
let h: Harness;
let vendor: VendorServer;

beforeAll(async () => {
  db = await createTestDatabase('lifecycle_accounts');
  await db.pool.query(`
    CREATE TABLE accounts (id bigserial PRIMARY KEY, legacy_vendor_id int);
    INSERT INTO accounts (legacy_vendor_id)
    SELECT CASE WHEN g % 100 = 50 THEN NULL ELSE 1000 + 7 * g END FROM generate_series(1, ${ROWS}) g;
    ANALYZE accounts;`);
  vendor = await startVendorServer(knownToVendor);
  h = createHarness(db, {});
  h.addMigration('vendor-uuid', variantSource(EXAMPLE, { rateLimit: { perSecond: PER_SECOND } }));
});

afterAll(async () => {
  await h?.close();
  await vendor?.close();
  await db?.drop();
});

/** Accounts whose vendor_uuid is not the vendor's uuid for their legacy id (NULL when unknown or none). */
async function wrongUuids(): Promise<number[]> {
  const { rows } = await db.pool.query(
    `SELECT id::int AS id FROM accounts
      WHERE vendor_uuid IS DISTINCT FROM CASE
              WHEN id % 100 = 50 OR (1000 + 7 * id) % 97 = 0 THEN NULL
              ELSE md5('vendor-' || (1000 + 7 * id))::uuid END
      ORDER BY id`,
  );
  return rows.map((r) => r.id);
}

/** How often the vendor was asked for each legacy id. */
function requestCounts(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of vendor.requests) counts.set(r.id, (counts.get(r.id) ?? 0) + 1);
  return counts;
}

/**
 * The application after the dual-write deploy: new accounts (ids from 100001, known to the vendor)
 * carry both the legacy id and the vendor's uuid. Returns how many it wrote.
 */
async function appWrites(stop: () => boolean): Promise<number> {
  let n = 0;
  for (let id = 100_001; !stop(); id++) {
    if (id % 100 === 50 || !knownToVendor(String(1000 + 7 * id))) continue;
    await db.pool.query(
      `INSERT INTO accounts (id, legacy_vendor_id, vendor_uuid) VALUES ($1::bigint, 1000 + 7 * $1::int, md5('vendor-' || (1000 + 7 * $1::int))::uuid)`,
      [id],
    );
    n++;
    await new Promise((r) => setTimeout(r, 20));
  }
  return n;
}

test('looks every legacy id up under the rate limit, skips unknown ids, drops legacy_vendor_id', async () => {
  expect(UNKNOWN_IDS.length).toBeGreaterThan(5);
  await h.startWorker({ VENDOR_API_URL: vendor.url });
  const name = h.name('vendor-uuid');

  const started = await h.ferry('start', name, '--cool-off', '1s', '--wait-for', 'expanded');
  expect(started.stderr).toBe('');
  expect(started.code).toBe(0);
  let stopApp = false;
  const app = appWrites(() => stopApp);
  let waiting: Record<string, unknown>;
  try {
    expect((await h.ferry('deployed', name)).code).toBe(0);
    waiting = await h.waitForPhase('vendor-uuid', 'awaiting-approval', 60_000);
  } finally {
    stopApp = true;
  }
  expect(await app).toBeGreaterThan(0); // the application wrote during the backfill
  expect(waiting).toMatchObject({ rowsFailed: UNKNOWN_IDS.length, verify: { wrongRows: 0, failedRows: UNKNOWN_IDS.length } });
  expect(await wrongUuids()).toEqual([]);

  const failed = await db.pool.query(`SELECT key, error FROM ferry.failed_rows WHERE migration = $1::text ORDER BY key[1]::bigint`, [name]);
  expect(failed.rows.map((r) => r.key)).toEqual(UNKNOWN_IDS.map((id) => [String(id)]));
  for (const r of failed.rows) expect(r.error).toContain('vendor API answered 404');

  const counts = requestCounts(); // every legacy id asked for, and nothing else
  const legacyIds = new Set(
    ACCOUNT_IDS.map(legacyId)
      .filter((l) => l !== null)
      .map(String),
  );
  expect([...legacyIds].filter((l) => !counts.has(l))).toEqual([]);
  expect([...counts.keys()].filter((l) => !legacyIds.has(l))).toEqual([]);
  const unknownCounts = UNKNOWN_IDS.map((id) => counts.get(String(legacyId(id))) ?? 0);
  expect(Math.max(...unknownCounts)).toBeLessThanOrEqual(MAX_REQUESTS_PER_UNKNOWN_ID);
  expect(peakRequests(vendor.requests, 1000)).toBeLessThanOrEqual(PER_SECOND + BURST);

  expect((await h.ferry('approve', name, '--accept-failed-rows')).code).toBe(0); // the vendor does not know them
  const done = await h.waitForPhase('vendor-uuid', 'completed', 30_000);
  expect(done).toMatchObject({ phase: 'completed', rowsFailed: UNKNOWN_IDS.length });
  const cols = await db.pool.query(`SELECT column_name FROM information_schema.columns WHERE table_name = 'accounts' ORDER BY 1`);
  expect(cols.rows.map((r) => r.column_name)).toEqual(['id', 'vendor_uuid']);
  expect(await wrongUuids()).toEqual([]);

  const asked = vendor.requests.length; // nothing asks for the unknown ids again once they are skipped
  await new Promise((r) => setTimeout(r, 2000));
  expect(vendor.requests.length).toBe(asked);
}, 150_000);
