/**
 * Seed 004 (GitLab) end to end through the CLI and a `ferry worker` process: `services.properties`
 * holds JSON whose "url" moves to its own column, exactly as the document does it: rows whose JSON
 * has no "url" keep NULL (no sentinel), rows with invalid JSON are recorded in ferry.failed_rows and
 * skipped; the application writes both shapes during the backfill; a row written in the old shape
 * after verify is caught up by one pass before the contract, which drops `properties`. A variant
 * with a low `maxFailedRows` ends `failed`.
 */
import path from 'node:path';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { createHarness, variantSource, type Harness } from '../helpers/harness';
import type { Progress } from '../../src/contract/progress';

const EXAMPLE = path.resolve(__dirname, '../../migrations/examples/services-extract-url.ts');
const ROWS = 4000;

/** Seeded rows: invalid JSON (every 500th from 7), no "url" key (ids ending in 3), no properties at all. */
const isBad = (id: number) => id % 500 === 7;
const hasNoUrl = (id: number) => id % 10 === 3;
const isNull = (id: number) => id % 1000 === 999;
const BAD_IDS = Array.from({ length: ROWS }, (_, i) => i + 1).filter(isBad);

/** The url the migration must leave on a seeded row: NULL without a url key, invalid JSON or properties. */
function seededUrl(id: number): string | null {
  if (isBad(id) || isNull(id) || hasNoUrl(id)) return null;
  return `https://svc-${id}.example.com/hook`;
}

/** Creates `services` with ROWS rows of JSON, some without a url key, some invalid, some NULL. */
async function seed(db: TestDatabase): Promise<void> {
  await db.pool.query(`
    CREATE TABLE services (id bigserial PRIMARY KEY, properties text);
    INSERT INTO services (properties)
    SELECT CASE
             WHEN g % 1000 = 999 THEN NULL
             WHEN g % 500 = 7 THEN '{"url": "https://svc-' || g || '.example.com/hook"'
             WHEN g % 10 = 3 THEN '{"name": "service ' || g || '"}'
             ELSE '{"url": "https://svc-' || g || '.example.com/hook", "token": "t' || g || '"}'
           END
      FROM generate_series(1, ${ROWS}) g;
    ANALYZE services;`);
}

/** What the application wrote after the dual-write deploy: the url it gave each row it touched. */
interface AppWrites {
  urls: Map<number, string | null>;
  /** Writes made while the backfill had partitions left (per ferry.backfill_checkpoints). */
  duringBackfill: number;
}

/** Whether the backfill of `migration` has started and not finished. */
async function backfillRunning(db: TestDatabase, migration: string): Promise<boolean> {
  const { rows } = await db.pool.query(
    `SELECT count(*) > 0 AND NOT bool_and(done) AS running FROM ferry.backfill_checkpoints WHERE migration = $1::text`,
    [migration],
  );
  return rows[0].running;
}

/**
 * The application after the deploy: inserts services with and without a url key, and moves the
 * url of existing valid rows, always writing `properties` and `url` together.
 */
async function appWrites(db: TestDatabase, migration: string, stop: () => boolean): Promise<AppWrites> {
  const result: AppWrites = { urls: new Map(), duringBackfill: 0 };
  for (let n = 0; !stop(); n++) {
    const running = await backfillRunning(db, migration);
    const url = n % 2 === 0 ? `https://app-${n}.example.com` : null; // no url key: NULL, as the backfill leaves it
    const props = JSON.stringify(n % 2 === 0 ? { url } : { name: `app ${n}` });
    const ins = await db.pool.query(`INSERT INTO services (properties, url) VALUES ($1::text, $2::text) RETURNING id`, [props, url]);
    result.urls.set(Number(ins.rows[0].id), url);
    // It moves seeded rows that have a url, never those without: they stay as the seed left them
    // however long the backfill takes (their ids cycle through the table every ROWS writes), so
    // the check that none became a sentinel always has hundreds to look at.
    const target = 1 + ((n * 7919) % ROWS);
    if (!isBad(target) && !isNull(target) && !hasNoUrl(target)) {
      const moved = `https://moved-${n}.example.com`;
      await db.pool.query(`UPDATE services SET properties = $1::text, url = $2::text WHERE id = $3::bigint`, [
        JSON.stringify({ url: moved }),
        moved,
        target,
      ]);
      result.urls.set(target, moved);
    }
    if (running) result.duringBackfill++;
  }
  return result;
}

/** Rows whose url is not what the seed and the application's writes call for. */
async function wrongUrls(db: TestDatabase, app: AppWrites): Promise<string[]> {
  const { rows } = await db.pool.query(`SELECT id::int AS id, url FROM services ORDER BY id`);
  const wrong: string[] = [];
  for (const r of rows) {
    const want = app.urls.has(r.id) ? app.urls.get(r.id) : seededUrl(r.id);
    if (r.url !== want) wrong.push(`${r.id}: ${JSON.stringify(r.url)}, want ${JSON.stringify(want)}`);
  }
  return wrong;
}

/** Polls `ferry status --json` until `check` holds. */
async function waitForStatus(h: Harness, name: string, check: (p: Progress) => boolean, timeoutMs = 60_000): Promise<Progress> {
  const end = Date.now() + timeoutMs;
  let last: Progress | undefined;
  while (Date.now() < end) {
    const r = await h.ferry('status', name, '--json');
    if (r.code === 0) last = JSON.parse(r.stdout) as Progress;
    if (last && check(last)) return last;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(`timed out waiting for the status of ${name}; last: ${JSON.stringify(last)}`);
}

describe('services-extract-url', () => {
  let db: TestDatabase;
  let h: Harness;

  beforeAll(async () => {
    db = await createTestDatabase('lifecycle_services');
    await seed(db);
    h = createHarness(db, { 'services-extract-url': EXAMPLE });
  });

  afterAll(async () => {
    await h?.close();
    await db?.drop();
  });

  test('extracts the url, records invalid JSON as failed rows and skips them, drops properties', async () => {
    await h.startWorker();
    const name = h.name('services-extract-url');

    const started = await h.ferry('start', name, '--cool-off', '1s', '--wait-for', 'expanded');
    expect(started.stderr).toBe('');
    expect(started.code).toBe(0);

    let stopApp = false;
    const app = appWrites(db, name, () => stopApp);
    let waiting: Record<string, unknown>;
    try {
      expect((await h.ferry('deployed', name)).code).toBe(0);
      waiting = await h.waitForPhase('services-extract-url', 'awaiting-approval', 60_000);
    } finally {
      stopApp = true; // the next deploy stops writing properties
    }
    const writes = await app;
    expect(writes.duringBackfill).toBeGreaterThan(0);
    expect(waiting).toMatchObject({ phase: 'awaiting-approval', rowsFailed: BAD_IDS.length, probe: { ok: true } });
    expect(waiting.verify).toMatchObject({ wrongRows: 0, failedRows: BAD_IDS.length });

    const failed = await db.pool.query(
      `SELECT key, sqlstate, error FROM ferry.failed_rows WHERE migration = $1::text ORDER BY key[1]::bigint`,
      [name],
    );
    expect(failed.rows.map((r) => r.key)).toEqual(BAD_IDS.map((id) => [String(id)]));
    for (const r of failed.rows) {
      expect(r.sqlstate).toBe('22P02');
      expect(r.error).toMatch(/invalid input syntax for type json/);
    }

    // An old instance of the application writes one row in the old shape after verify: the
    // contract's re-verify finds it, one catch-up pass fixes it (and leaves the NULL rows alone).
    const late = await db.pool.query(`INSERT INTO services (properties) VALUES ($1::text) RETURNING id`, [
      JSON.stringify({ url: 'https://late.example.com' }),
    ]);
    writes.urls.set(Number(late.rows[0].id), 'https://late.example.com');
    // ... and one with invalid JSON: verify cannot evaluate it, counts it as wrong, and the
    // catch-up pass records it as a failed row.
    const lateBad = Number((await db.pool.query(`INSERT INTO services (properties) VALUES ('{"url": broken') RETURNING id`)).rows[0].id);
    writes.urls.set(lateBad, null);
    const failedIds = [...BAD_IDS, lateBad];

    // The invalid JSON rows cannot be fixed by a re-run: approving means accepting them.
    const refused = await h.ferry('approve', name);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain(`has ${BAD_IDS.length} recorded failed rows that still fail`);
    expect((await h.ferry('approve', name, '--accept-failed-rows')).code).toBe(0);
    // The catch-up before the contract recorded one more: the approval accepted 8, so ferry asks again.
    const again = await waitForStatus(h, name, (p) => p.phase === 'awaiting-approval' && p.failedRows?.remaining === failedIds.length);
    expect(again.approved).toBeUndefined();
    expect(again.lastError).toContain(`failed rows: ${failedIds.length} rows of "public"."services" still fail`);
    expect((await h.ferry('approve', name, '--accept-failed-rows', '--by', 'carol')).code).toBe(0);
    const done = await h.waitForPhase('services-extract-url', 'completed', 60_000);
    expect(done).toMatchObject({
      phase: 'completed',
      rowsFailed: failedIds.length,
      verify: { wrongRows: 0 },
      approved: { by: 'carol', acceptedFailedRows: failedIds.length },
    });

    const status = JSON.parse((await h.ferry('status', name, '--json')).stdout);
    expect(status).toMatchObject({ phase: 'completed', rowsFailed: failedIds.length });
    const recorded = await db.pool.query(`SELECT key[1]::int AS id FROM ferry.failed_rows WHERE migration = $1::text ORDER BY 1`, [name]);
    expect(recorded.rows.map((r) => r.id)).toEqual(failedIds);
    const cols = await db.pool.query(`SELECT column_name FROM information_schema.columns WHERE table_name = 'services' ORDER BY 1`);
    expect(cols.rows.map((r) => r.column_name)).toEqual(['id', 'url']);
    expect(await wrongUrls(db, writes)).toEqual([]);
    // No sentinel: rows without a url key (seeded and written by the application) are NULL, none is ''.
    const urls = await db.pool.query(
      `SELECT count(*) FILTER (WHERE url = '')::int AS empty, count(*) FILTER (WHERE url IS NULL AND id <= $1::int)::int AS seeded_null FROM services`,
      [ROWS],
    );
    const nullIds = Array.from({ length: ROWS }, (_, i) => i + 1).filter((id) => seededUrl(id) === null && !writes.urls.has(id));
    expect(urls.rows[0]).toEqual({ empty: 0, seeded_null: nullIds.length });
    expect(nullIds.filter(hasNoUrl).length).toBe(Array.from({ length: ROWS }, (_, i) => i + 1).filter(hasNoUrl).length);
    // The catch-up pass ran once (pass 2) and ended: it did not loop on the NULL rows.
    const passes = await db.pool.query(
      `SELECT max(pass)::int AS pass, bool_and(done) AS done FROM ferry.backfill_checkpoints WHERE migration = $1::text`,
      [name],
    );
    expect(passes.rows[0]).toEqual({ pass: 2, done: true });
    // Skipped, not retried: each bad row was recorded once and counted once.
    const counted = await db.pool.query(`SELECT sum(rows_failed)::int AS n FROM ferry.backfill_checkpoints WHERE migration = $1::text`, [
      name,
    ]);
    expect(counted.rows[0].n).toBe(failedIds.length);
  }, 180_000);
});

describe('services-extract-url with more bad rows than maxFailedRows', () => {
  let db: TestDatabase;
  let h: Harness;

  beforeAll(async () => {
    db = await createTestDatabase('lifecycle_services_limit');
    await seed(db);
    h = createHarness(db, {});
    h.addMigration('services-limit', variantSource(EXAMPLE, { maxFailedRows: 3 }));
  });

  afterAll(async () => {
    await h?.close();
    await db?.drop();
  });

  test('fails the migration, naming it and the limit', async () => {
    await h.startWorker();
    const name = h.name('services-limit');

    expect((await h.ferry('start', name, '--cool-off', '1s', '--wait-for', 'expanded')).code).toBe(0);
    expect((await h.ferry('deployed', name)).code).toBe(0);
    const ended = await h.waitForPhase('services-limit', 'failed', 60_000);

    expect(ended.phase).toBe('failed');
    expect(ended.lastError).toContain(`migration "${name}"`);
    expect(ended.lastError).toContain('maxFailedRows (3)');
    const status = await h.ferry('status', name, '--json');
    expect(status.code).toBe(1); // CI sees the failure
    expect(JSON.parse(status.stdout)).toMatchObject({ phase: 'failed', status: 'FAILED' });
    expect(status.stderr).toContain(`ferry: migration "${name}" failed: backfilling: `);
    const failed = await db.pool.query(`SELECT count(*)::int AS n FROM ferry.failed_rows WHERE migration = $1::text`, [name]);
    expect(failed.rows[0].n).toBeGreaterThan(3);
  }, 90_000);

  // The failed chunk's committed batches are counted (they were not, before the patch
  // 'sync-counters-after-failed-chunk' in workflows/backfill.ts).
  test('status reports the failed rows of the failed migration', async () => {
    const status = JSON.parse((await h.ferry('status', h.name('services-limit'), '--json')).stdout);
    expect(status.phase).toBe('failed');
    expect(status.rowsFailed).toBeGreaterThan(3);
    expect(status.rowsDone).toBeGreaterThan(0);
  });
});
