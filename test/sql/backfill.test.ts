import type { TableInfo } from '../../src/pg/catalog';
import { READ_CHECKPOINT_SET_TIMEOUTS } from '../../src/store/checkpoints';
import {
  buildApplyKeys,
  buildFirstKeySpan,
  buildLastKey,
  buildSampleKeys,
  buildSelectKeys,
  buildSelectRows,
  buildSetBatch,
  buildWindow,
  keyRange,
} from '../../src/sql/backfill';
import { odd, posts, sqlOf } from '../helpers/tables';

/** Golden strings of the backfill statements; test/activities/backfill.test.ts runs them for real. */

describe('keyRange', () => {
  it('has no conditions without bounds', () => {
    expect(keyRange(posts, { lower: 0, upper: 0 })).toEqual({ conditions: [], next: 1 });
  });

  it('numbers the lower bound first, then the upper bound, from `first`', () => {
    expect(keyRange(odd, { lower: 2, upper: 1 }, 3)).toEqual({
      conditions: ['("Tenant", "we""ird") > ($3::integer, $4::character varying(20))', '"Tenant" <= $5::integer'],
      next: 6,
    });
  });
});

describe('buildSetBatch', () => {
  it('pages a single-column key by keyset, wraps where/set and returns the last key as text[]', () => {
    expect(buildSetBatch(posts, sqlOf, { lower: 1, upper: 1 })).toEqual({
      params: 3,
      text:
        'WITH ferry_batch AS MATERIALIZED (SELECT "id" FROM "public"."posts" WHERE "id" > $1::bigint AND "id" <= $2::bigint ORDER BY "id" LIMIT $3::int),\n' +
        'ferry_updated AS (UPDATE "public"."posts" SET data = raw::jsonb\n' +
        ' WHERE "id" IN (SELECT "id" FROM ferry_batch) AND (data IS NULL)\n' +
        ' RETURNING 1)\n' +
        'SELECT (SELECT count(*) FROM ferry_batch)::int AS scanned, (SELECT count(*) FROM ferry_updated)::int AS updated,\n' +
        ' (SELECT ARRAY[max("id")::text] FROM ferry_batch HAVING count(*) > 0) AS last_key',
    });
  });

  it('compares a composite, mixed-case key as a row and quotes every name', () => {
    expect(buildSetBatch(odd, sqlOf, { lower: 2, upper: 1 }).text).toBe(
      'WITH ferry_batch AS MATERIALIZED (SELECT "Tenant", "we""ird" FROM "Mixed Case"."Odd-Table"' +
        ' WHERE ("Tenant", "we""ird") > ($1::integer, $2::character varying(20)) AND "Tenant" <= $3::integer' +
        ' ORDER BY "Tenant", "we""ird" LIMIT $4::int),\n' +
        'ferry_updated AS (UPDATE "Mixed Case"."Odd-Table" SET data = raw::jsonb\n' +
        ' WHERE ("Tenant", "we""ird") IN (SELECT "Tenant", "we""ird" FROM ferry_batch) AND (data IS NULL)\n' +
        ' RETURNING 1)\n' +
        'SELECT (SELECT count(*) FROM ferry_batch)::int AS scanned, (SELECT count(*) FROM ferry_updated)::int AS updated,\n' +
        ' (SELECT ARRAY["Tenant"::text, "we""ird"::text] FROM ferry_batch ORDER BY "Tenant" DESC, "we""ird" DESC LIMIT 1) AS last_key',
    );
  });

  it('starts at the beginning of an unbounded partition', () => {
    const stmt = buildSetBatch(odd, sqlOf, { lower: 0, upper: 0 });
    expect(stmt.params).toBe(1);
    expect(stmt.text).toContain('FROM "Mixed Case"."Odd-Table" ORDER BY "Tenant", "we""ird" LIMIT $1::int)');
  });

  it('never pages by OFFSET nor skips locked rows', () => {
    const text = buildSetBatch(odd, sqlOf, { lower: 2, upper: 2 }).text;
    expect(text).not.toMatch(/OFFSET|SKIP LOCKED/i);
  });

  it('refuses a definition without set', () => {
    expect(() => buildSetBatch(posts, { where: 'true' }, { lower: 0, upper: 0 })).toThrow(/backfill.set/);
  });
});

describe('buildWindow', () => {
  it('counts the next window and returns its last key without changing anything', () => {
    expect(buildWindow(odd, { lower: 2, upper: 0 })).toEqual({
      params: 3,
      text:
        'WITH ferry_window AS MATERIALIZED (SELECT "Tenant", "we""ird" FROM "Mixed Case"."Odd-Table"' +
        ' WHERE ("Tenant", "we""ird") > ($1::integer, $2::character varying(20)) ORDER BY "Tenant", "we""ird" LIMIT $3::int)\n' +
        'SELECT (SELECT count(*) FROM ferry_window)::int AS scanned,' +
        ' (SELECT ARRAY["Tenant"::text, "we""ird"::text] FROM ferry_window ORDER BY "Tenant" DESC, "we""ird" DESC LIMIT 1) AS last_key',
    });
  });

  it('takes max() for the last key of a single-column key, null on an empty window', () => {
    expect(buildWindow(posts, { lower: 1, upper: 0 }).text).toBe(
      'WITH ferry_window AS MATERIALIZED (SELECT "id" FROM "public"."posts" WHERE "id" > $1::bigint ORDER BY "id" LIMIT $2::int)\n' +
        'SELECT (SELECT count(*) FROM ferry_window)::int AS scanned,' +
        ' (SELECT ARRAY[max("id")::text] FROM ferry_window HAVING count(*) > 0) AS last_key',
    );
  });
});

describe('last key', () => {
  it('keeps ORDER BY ... DESC LIMIT 1 for a single-column key without max() (uuid)', () => {
    const uuids: TableInfo = { ...posts, key: [{ name: 'id', type: 'uuid' }] };
    expect(buildWindow(uuids, { lower: 0, upper: 0 }).text).toContain(
      '(SELECT ARRAY["id"::text] FROM ferry_window ORDER BY "id" DESC LIMIT 1) AS last_key',
    );
  });
});

describe('checkpoint statements', () => {
  it('reads the checkpoint and sets the batch timeouts in one statement', () => {
    expect(READ_CHECKPOINT_SET_TIMEOUTS).toContain("set_config('lock_timeout', $4::text, true)");
    expect(READ_CHECKPOINT_SET_TIMEOUTS).toContain("set_config('statement_timeout', $5::text, true)");
    expect(READ_CHECKPOINT_SET_TIMEOUTS).toContain(
      "set_config('synchronous_commit', COALESCE($6::text, current_setting('synchronous_commit')), true)",
    );
    expect(READ_CHECKPOINT_SET_TIMEOUTS).toContain('WHERE migration = $1::text AND run_id = $2::text AND partition = $3::int');
  });
});

describe('buildSelectKeys', () => {
  it('lists the keys of a closed range that still match where', () => {
    expect(buildSelectKeys(odd, sqlOf, { lower: 2, upper: 2 })).toEqual({
      params: 4,
      text:
        'SELECT ARRAY["Tenant"::text, "we""ird"::text] AS key FROM "Mixed Case"."Odd-Table"' +
        ' WHERE ("Tenant", "we""ird") > ($1::integer, $2::character varying(20))' +
        ' AND ("Tenant", "we""ird") <= ($3::integer, $4::character varying(20)) AND (data IS NULL)' +
        ' ORDER BY "Tenant", "we""ird"',
    });
  });
});

describe('buildApplyKeys', () => {
  it('updates the given keys, passed column-wise as text[] and cast back', () => {
    expect(buildApplyKeys(odd, sqlOf)).toEqual({
      params: 2,
      text:
        'WITH ferry_updated AS (UPDATE "Mixed Case"."Odd-Table" SET data = raw::jsonb\n' +
        ' WHERE ("Tenant", "we""ird") IN (SELECT k.k1::integer, k.k2::character varying(20)' +
        ' FROM unnest($1::text[], $2::text[]) AS k(k1, k2)) AND (data IS NULL)\n' +
        ' RETURNING 1)\n' +
        'SELECT count(*)::int AS updated FROM ferry_updated',
    });
  });

  it('handles a single-column key', () => {
    expect(buildApplyKeys(posts, sqlOf).text).toContain(
      'WHERE "id" IN (SELECT k.k1::bigint FROM unnest($1::text[]) AS k(k1)) AND (data IS NULL)',
    );
  });
});

describe('buildSelectRows', () => {
  it('locks the matching rows of the range (no SKIP LOCKED) and adds each key as __ferry_key', () => {
    expect(buildSelectRows(odd, sqlOf, { lower: 1, upper: 2 })).toEqual({
      params: 3,
      text:
        'SELECT *, ARRAY["Tenant"::text, "we""ird"::text] AS "__ferry_key" FROM "Mixed Case"."Odd-Table"' +
        ' WHERE "Tenant" > $1::integer AND ("Tenant", "we""ird") <= ($2::integer, $3::character varying(20))' +
        ' AND (data IS NULL) ORDER BY "Tenant", "we""ird" FOR NO KEY UPDATE',
    });
  });
});

describe('partition helpers', () => {
  it('reads the span of the first key column', () => {
    expect(buildFirstKeySpan(odd).text).toBe('SELECT min("Tenant")::text AS min, max("Tenant")::text AS max FROM "Mixed Case"."Odd-Table"');
  });

  it("reads the table's last key", () => {
    expect(buildLastKey(odd).text).toBe(
      'SELECT ARRAY["Tenant"::text, "we""ird"::text] AS key FROM "Mixed Case"."Odd-Table" WHERE "Tenant" IS NOT NULL AND "we""ird" IS NOT NULL' +
        ' ORDER BY "Tenant" DESC, "we""ird" DESC LIMIT 1',
    );
  });

  it('samples keys by page', () => {
    expect(buildSampleKeys(odd).text).toBe(
      'SELECT ARRAY["Tenant"::text, "we""ird"::text] AS key FROM "Mixed Case"."Odd-Table"' +
        ' TABLESAMPLE SYSTEM ($1::float8) ORDER BY "Tenant", "we""ird"',
    );
  });
});
