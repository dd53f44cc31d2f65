import { describeTable } from '../../src/pg/catalog';
import { probeSql } from '../../src/sql/dual-write';
import { COUNT_FAILED_ROWS } from '../../src/store/failed-rows';
import { countByRanges, type RangeTotals } from '../../src/engine/range-scan';
import { verifySql } from '../../src/sql/verify';
import { createTestDatabase, type TestDatabase } from '../helpers/db';

const POSTS = { quoted: '"public"."posts"', key: [{ name: 'id', type: 'bigint' }] };
const ODD = {
  quoted: '"Mixed Case"."Odd-Table"',
  key: [
    { name: 'Id', type: 'bigint' },
    { name: 'k', type: 'text' },
  ],
};

describe('range scan SQL (golden strings)', () => {
  test('verify, one key column: first range and next range', () => {
    const sql = verifySql(POSTS, 'member_uuid IS NULL');
    expect(sql.first).toBe(`WITH page AS MATERIALIZED (
  SELECT ARRAY["public"."posts"."id"::text] AS ferry_key,
         "public"."posts"."id" AS ferry_k1,
         CASE WHEN ARRAY["public"."posts"."id"::text] IN (
                SELECT f.key FROM ferry.failed_rows f WHERE f.migration = $1::text AND f.run_id = $2::text)
              THEN false
              ELSE (
member_uuid IS NULL
         ) IS TRUE
         END AS ferry_match
    FROM "public"."posts"
   ORDER BY "public"."posts"."id"
   LIMIT $3::int
)
SELECT count(*)::int AS checked,
       count(*) FILTER (WHERE page.ferry_match)::int AS matched,
       (SELECT p.ferry_key FROM page p ORDER BY p.ferry_k1 DESC LIMIT 1) AS last_key
  FROM page`);
    expect(sql.next).toBe(
      sql.first.replace('    FROM "public"."posts"\n', '    FROM "public"."posts"\n   WHERE ("public"."posts"."id") > ($4::bigint)\n'),
    );
  });

  test('verify, quoted mixed-case schema and table with a composite key', () => {
    expect(verifySql(ODD, '"Total Cents" IS NULL -- author comment').next).toBe(`WITH page AS MATERIALIZED (
  SELECT ARRAY["Mixed Case"."Odd-Table"."Id"::text, "Mixed Case"."Odd-Table"."k"::text] AS ferry_key,
         "Mixed Case"."Odd-Table"."Id" AS ferry_k1,
         "Mixed Case"."Odd-Table"."k" AS ferry_k2,
         CASE WHEN ARRAY["Mixed Case"."Odd-Table"."Id"::text, "Mixed Case"."Odd-Table"."k"::text] IN (
                SELECT f.key FROM ferry.failed_rows f WHERE f.migration = $1::text AND f.run_id = $2::text)
              THEN false
              ELSE (
"Total Cents" IS NULL -- author comment
         ) IS TRUE
         END AS ferry_match
    FROM "Mixed Case"."Odd-Table"
   WHERE ("Mixed Case"."Odd-Table"."Id", "Mixed Case"."Odd-Table"."k") > ($4::bigint, $5::text)
   ORDER BY "Mixed Case"."Odd-Table"."Id", "Mixed Case"."Odd-Table"."k"
   LIMIT $3::int
)
SELECT count(*)::int AS checked,
       count(*) FILTER (WHERE page.ferry_match)::int AS matched,
       (SELECT p.ferry_key FROM page p ORDER BY p.ferry_k1 DESC, p.ferry_k2 DESC LIMIT 1) AS last_key
  FROM page`);
  });

  test('probe: xmin after the mark ($4), modulo 2^32, and the backfill predicate; the cursor moves to $5', () => {
    const sql = probeSql(POSTS, 'member_uuid IS NULL');
    expect(sql.first).toContain(`              ELSE ("public"."posts".xmin::text::bigint >= 3
         AND (("public"."posts".xmin::text::bigint - $4::bigint % 4294967296 + 4294967296) % 4294967296)
             BETWEEN 1 AND LEAST(2147483647, (SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint) - $4::bigint - 1)
         AND (
member_uuid IS NULL
         )) IS TRUE
         END AS ferry_match
    FROM "public"."posts"
   ORDER BY`);
    expect(sql.next).toContain('   WHERE ("public"."posts"."id") > ($5::bigint)\n');
  });
});

describe('countByRanges against PostgreSQL', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase('verify_sql'); // with ferry's schema: the scans read ferry.failed_rows
    await db.pool.query(`CREATE SCHEMA "Mixed Case";
      CREATE TABLE "Mixed Case"."Odd-Table" ("Id" bigint, k text, "Total Cents" bigint, PRIMARY KEY ("Id", k));
      INSERT INTO "Mixed Case"."Odd-Table" SELECT g / 3, 'k' || (g % 3), CASE WHEN g % 10 = 0 THEN NULL ELSE g END
        FROM generate_series(1, 1000) g;
      CREATE TABLE empty (id int PRIMARY KEY, v int);`);
  });
  afterAll(() => db.drop());

  const opts = { migration: 'odd', runId: 'run-1' };

  test('counts matching rows over keyset ranges, reporting after each', async () => {
    const info = await describeTable(db.pool, '"Mixed Case"."Odd-Table"');
    expect(info.key).toEqual(ODD.key);
    const seen: RangeTotals[] = [];
    const totals = await countByRanges(db.pool, verifySql(info, '"Total Cents" IS NULL'), {
      ...opts,
      rangeSize: 70,
      onRange: (t) => void seen.push(t),
    });
    expect(totals).toEqual({ checkedRows: 1000, matchedRows: 100, ranges: 15 });
    expect(seen).toHaveLength(15);
    expect(seen[0]).toEqual({ checkedRows: 70, matchedRows: 7, ranges: 1 });
  });

  test('a table that is an exact multiple of the range size ends with an empty range, not counted', async () => {
    const info = await describeTable(db.pool, '"Mixed Case"."Odd-Table"');
    const totals = await countByRanges(db.pool, verifySql(info, 'true'), { ...opts, rangeSize: 100 });
    expect(totals).toEqual({ checkedRows: 1000, matchedRows: 1000, ranges: 10 });
  });

  test('rows recorded in ferry.failed_rows for this migration and run are not counted', async () => {
    await db.pool.query(
      `INSERT INTO ferry.failed_rows (migration, run_id, key, error) VALUES
        ('odd', 'run-1', ARRAY['3', 'k0'], 'boom'), ('odd', 'run-1', ARRAY['6', 'k2'], 'boom'),
        ('odd', 'run-0', ARRAY['20', 'k0'], 'older run'), ('other', 'run-1', ARRAY['23', 'k0'], 'other migration')`,
    );
    const info = await describeTable(db.pool, '"Mixed Case"."Odd-Table"');
    // recorded for run-1: (3, 'k0') is g = 9, not wrong; (6, 'k2') is g = 20, wrong: 100 - 1
    const totals = await countByRanges(db.pool, verifySql(info, '"Total Cents" IS NULL'), { ...opts, rangeSize: 333 });
    expect(totals).toEqual({ checkedRows: 1000, matchedRows: 99, ranges: 4 });
    const { rows } = await db.pool.query(COUNT_FAILED_ROWS, ['odd', 'run-1']);
    expect(rows[0].n).toBe(2);
  });

  test('an empty table scans zero ranges', async () => {
    const info = await describeTable(db.pool, 'empty');
    await expect(countByRanges(db.pool, verifySql(info, 'v IS NULL'), opts)).resolves.toEqual({
      checkedRows: 0,
      matchedRows: 0,
      ranges: 0,
    });
  });

  test('an author predicate that is NULL counts as not matching', async () => {
    const info = await describeTable(db.pool, '"Mixed Case"."Odd-Table"');
    const totals = await countByRanges(db.pool, verifySql(info, '"Total Cents" > 0'), opts);
    expect(totals.matchedRows).toBe(900 - 1); // (3, 'k0') matches but is recorded as failed above
  });

  test('the predicate is not evaluated on recorded failed rows: it may parse what the backfill could not', async () => {
    await db.pool.query(`CREATE TABLE docs (id int PRIMARY KEY, doc text, url text);
      INSERT INTO docs SELECT g, CASE WHEN g = 4 THEN '{"url": "broken' ELSE '{"url": "u' || g || '"}' END, 'u' || g
        FROM generate_series(1, 10) g;
      UPDATE docs SET url = NULL WHERE id = 7;`);
    const info = await describeTable(db.pool, 'docs');
    const where = "url IS DISTINCT FROM (doc::json->>'url')";
    const docs = { migration: 'docs', runId: 'run-1' };
    // Not recorded yet: row 4 cannot be evaluated. Verify counts it as wrong (a catch-up pass will
    // record it), the probe skips it; both step past it and count the rest.
    for (const rangeSize of [3, 4, 50_000]) {
      await expect(countByRanges(db.pool, verifySql(info, where), { ...docs, rangeSize })).resolves.toMatchObject({
        checkedRows: 10,
        matchedRows: 2, // rows 4 and 7
      });
    }
    await expect(countByRanges(db.pool, verifySql(info, where), { ...docs, unevaluable: 'skip' })).resolves.toMatchObject({
      checkedRows: 10,
      matchedRows: 1,
    });
    // Any other error still fails the scan.
    await expect(countByRanges(db.pool, verifySql(info, 'no_such_column'), docs)).rejects.toMatchObject({ code: '42703' });
    await db.pool.query(`INSERT INTO ferry.failed_rows (migration, run_id, key, error) VALUES ('docs', 'run-1', ARRAY['4'], 'bad json')`);
    await expect(countByRanges(db.pool, verifySql(info, where), { ...docs, rangeSize: 3 })).resolves.toEqual({
      checkedRows: 10,
      matchedRows: 1, // row 7
      ranges: 4,
    });
  });

  test('a first row that cannot be evaluated, with a composite key, is stepped past', async () => {
    await db.pool.query(`CREATE TABLE docs2 (a int, b text, doc text, PRIMARY KEY (a, b));
      INSERT INTO docs2 VALUES (1, 'x', '{bad'), (1, 'y', '{"n": 1}'), (2, 'x', '{bad'), (3, 'x', '{}');`);
    const info = await describeTable(db.pool, 'docs2');
    const totals = await countByRanges(db.pool, verifySql(info, "doc::json->>'n' IS NULL"), { migration: 'docs2', runId: 'r' });
    expect(totals).toMatchObject({ checkedRows: 4, matchedRows: 3 }); // (1,x) and (2,x) unevaluable, (3,x) has no n
  });

  test('a bad range size is refused', async () => {
    const info = await describeTable(db.pool, 'empty');
    await expect(countByRanges(db.pool, verifySql(info, 'true'), { ...opts, rangeSize: 0 })).rejects.toThrow(/range size 0/);
  });
});
