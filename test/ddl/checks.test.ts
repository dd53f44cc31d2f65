/**
 * The dangerous-form checks against a real PostgreSQL: each form ferry refuses on a table with
 * rows, the safe form that passes, the same statement on an empty table, and the override.
 */
import { FerryError } from '../../src/contract/errors';
import { assertDdlSafe, reviewDdl, type DdlReview } from '../../src/ddl/checks';
import { validateDefinition } from '../../src/definition/define';
import { createTestDatabase, type TestDatabase } from '../helpers/db';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase('ddl_checks');
  await db.pool.query(`
    CREATE TABLE owners (id int PRIMARY KEY);
    INSERT INTO owners SELECT g FROM generate_series(1, 10) g;
    CREATE TABLE items (id bigserial PRIMARY KEY, v int, name varchar(20), price numeric(10,2), at timestamp(3), note text);
    INSERT INTO items (v, name, price, at, note) SELECT g % 10 + 1, 'n' || g, g, now(), 'x' FROM generate_series(1, 2000) g;
    CREATE TABLE empty_items (LIKE items);
    CREATE TABLE "Mixed Case" ("Id" int PRIMARY KEY, "Odd Col" int);
    INSERT INTO "Mixed Case" VALUES (1, 1);
    ANALYZE;`);
});

afterAll(async () => {
  await db?.drop();
});

interface Lists {
  contract?: string[];
  down?: string[];
  unsafe?: { check: string; reason: string }[];
}

async function review(up: string[], lists: Lists = {}): Promise<DdlReview> {
  const definition = validateDefinition(
    {
      table: 'items',
      expand: { up, down: lists.down ?? 'SELECT 1' },
      backfill: { where: 'false', set: 'v = v' },
      contract: { up: lists.contract ?? 'SELECT 1' },
      ...(lists.unsafe && { unsafe: lists.unsafe }),
    },
    'test',
  );
  return reviewDdl(db.pool, definition);
}

/** Whether PostgreSQL rewrites `items` for this statement: its relfilenode changes (rolled back). */
async function rewritesInPostgres(statement: string): Promise<boolean> {
  const client = await db.pool.connect();
  try {
    await client.query('BEGIN');
    const before = (await client.query(`SELECT pg_relation_filenode('items') AS f`)).rows[0].f;
    await client.query(statement);
    const after = (await client.query(`SELECT pg_relation_filenode('items') AS f`)).rows[0].f;
    return before !== after;
  } finally {
    await client.query('ROLLBACK');
    client.release();
  }
}

const refused = async (up: string[], lists?: Lists) => (await review(up, lists)).refused.map((f) => f.check);

describe('each dangerous form is refused on a table with rows, with its safe form', () => {
  test('CREATE INDEX without CONCURRENTLY', async () => {
    const r = await review(['CREATE INDEX IF NOT EXISTS items_v ON items (v)']);
    expect(r.refused).toEqual([
      expect.objectContaining({
        check: 'index-not-concurrent',
        field: 'expand.up',
        table: '"public"."items"',
        problem: expect.stringContaining('SHARE lock on "public"."items" (about 2,000 rows)'),
        safe: expect.stringContaining('CREATE [UNIQUE] INDEX CONCURRENTLY IF NOT EXISTS <name> ON "public"."items"'),
      }),
    ]);
    expect(r.statements[0].locks[0]).toMatchObject({ table: '"public"."items"', mode: 'SHARE', touch: 'scan', rows: 2000 });
    expect(await refused(['CREATE INDEX CONCURRENTLY IF NOT EXISTS items_v ON items (v)'])).toEqual([]);
    expect(await refused(['CREATE INDEX IF NOT EXISTS e_v ON empty_items (v)'])).toEqual([]);
    // A UNIQUE or PRIMARY KEY constraint builds its index under ACCESS EXCLUSIVE; USING INDEX does not.
    expect(await refused(['ALTER TABLE items ADD CONSTRAINT items_v_key UNIQUE (v)'])).toEqual(['index-not-concurrent']);
    expect(await refused(['ALTER TABLE items ADD CONSTRAINT items_v_key UNIQUE USING INDEX items_v_unique'])).toEqual([]);
  });

  test('ADD CONSTRAINT (CHECK or FOREIGN KEY) without NOT VALID', async () => {
    expect(await refused(['ALTER TABLE items ADD CONSTRAINT items_v_pos CHECK (v > 0)'])).toEqual(['constraint-not-valid']);
    const fk = await review(['ALTER TABLE items ADD CONSTRAINT items_owner FOREIGN KEY (v) REFERENCES owners (id)']);
    expect(fk.refused.map((f) => f.check)).toEqual(['constraint-not-valid']);
    expect(fk.statements[0].locks.map((l) => [l.table, l.mode])).toEqual([
      ['"public"."items"', 'SHARE ROW EXCLUSIVE'],
      ['"public"."owners"', 'SHARE ROW EXCLUSIVE'],
    ]);
    const safe = await review([
      'ALTER TABLE items ADD CONSTRAINT items_owner FOREIGN KEY (v) REFERENCES owners (id) NOT VALID',
      'ALTER TABLE items VALIDATE CONSTRAINT items_owner',
    ]);
    expect(safe.refused).toEqual([]);
    expect(safe.statements[1]).toMatchObject({
      kind: 'ALTER TABLE (VALIDATE CONSTRAINT)',
      locks: [{ mode: 'SHARE UPDATE EXCLUSIVE', touch: 'scan' }],
    });
  });

  test('SET NOT NULL without a validated CHECK (col IS NOT NULL)', async () => {
    expect(await refused(['ALTER TABLE items ALTER COLUMN v SET NOT NULL'])).toEqual(['set-not-null']);
    // A NOT VALID check proves nothing until it is validated.
    const notValidated = [
      'ALTER TABLE items ADD CONSTRAINT v_nn CHECK (v IS NOT NULL) NOT VALID',
      'ALTER TABLE items ALTER COLUMN v SET NOT NULL',
    ];
    expect(await refused(notValidated)).toEqual(['set-not-null']);
    const safe = [
      'ALTER TABLE items ADD CONSTRAINT v_nn CHECK (v IS NOT NULL) NOT VALID',
      'ALTER TABLE items VALIDATE CONSTRAINT v_nn',
      'ALTER TABLE items ALTER COLUMN v SET NOT NULL',
    ];
    expect(await refused(safe)).toEqual([]);
    // A validated CHECK already in the catalog (here: one term of an AND) is enough.
    await db.pool.query('ALTER TABLE items ADD CONSTRAINT name_nn CHECK (name IS NOT NULL AND v > 0)');
    expect(await refused(['ALTER TABLE items ALTER COLUMN name SET NOT NULL'])).toEqual([]);
    expect(await refused(['ALTER TABLE items ALTER COLUMN note SET NOT NULL'])).toEqual(['set-not-null']);
  });

  test('ALTER COLUMN TYPE that rewrites; the binary-coercible changes pass', async () => {
    const rewrites = [
      'v TYPE bigint',
      'name TYPE varchar(10)',
      'price TYPE numeric(12,3)',
      'at TYPE timestamptz',
      'name TYPE varchar(50) USING upper(name)',
    ];
    for (const change of rewrites)
      expect([change, await refused([`ALTER TABLE items ALTER COLUMN ${change}`])]).toEqual([change, ['column-type-rewrite']]);
    const keeps = [
      'name TYPE varchar(50)',
      'name TYPE text',
      'name TYPE varchar',
      'note TYPE varchar',
      'price TYPE numeric(12,2)',
      'price TYPE numeric',
      'at TYPE timestamp(6)',
    ];
    for (const change of keeps) expect([change, await refused([`ALTER TABLE items ALTER COLUMN ${change}`])]).toEqual([change, []]);
    expect(await refused(['ALTER TABLE empty_items ALTER COLUMN v TYPE bigint'])).toEqual([]);
    // The forecast follows the catalog's verdict: a binary-coercible change touches no row.
    expect((await review(['ALTER TABLE items ALTER COLUMN name TYPE text'])).statements[0].locks[0]).toMatchObject({ touch: 'none' });
    expect((await review(['ALTER TABLE items ALTER COLUMN v TYPE bigint'])).statements[0].locks[0]).toMatchObject({
      mode: 'ACCESS EXCLUSIVE',
      touch: 'rewrite',
      estimate: { how: expect.stringContaining('with indexes ÷ 8 MB/s (rewrite of the table and its indexes)') },
    });
    // PostgreSQL itself agrees: a rewrite gives the table a new relfilenode (run and rolled back).
    for (const change of [...keeps, ...rewrites.filter((c) => !c.includes('timestamptz'))]) {
      expect([change, await rewritesInPostgres(`ALTER TABLE items ALTER COLUMN ${change}`)]).toEqual([change, !keeps.includes(change)]);
    }
  });

  test('ADD COLUMN with a volatile default', async () => {
    for (const column of [
      'u uuid DEFAULT gen_random_uuid()',
      'at2 timestamptz DEFAULT clock_timestamp()',
      'seq bigserial',
      'ident int GENERATED ALWAYS AS IDENTITY',
    ]) {
      expect([column, await refused([`ALTER TABLE items ADD COLUMN IF NOT EXISTS ${column}`])]).toEqual([column, ['volatile-default']]);
    }
    const keeps = ['at2 timestamptz DEFAULT now()', 'flag boolean DEFAULT false', 'u uuid'];
    for (const column of keeps) {
      expect([column, await refused([`ALTER TABLE items ADD COLUMN IF NOT EXISTS ${column}`])]).toEqual([column, []]);
    }
    for (const column of [...keeps, 'u uuid DEFAULT gen_random_uuid()', 'seq bigserial']) {
      expect([column, await rewritesInPostgres(`ALTER TABLE items ADD COLUMN ${column}`)]).toEqual([column, !keeps.includes(column)]);
    }
  });

  test('VACUUM FULL, CLUSTER, LOCK TABLE, TRUNCATE in expand; not in contract', async () => {
    const forms = ['VACUUM FULL items', 'CLUSTER items USING items_pkey', 'LOCK TABLE items IN SHARE MODE', 'TRUNCATE items'];
    expect(await refused(forms)).toEqual(['vacuum-full', 'cluster', 'lock-table', 'truncate']);
    expect(await refused(['SELECT 1'], { contract: ['TRUNCATE items'] })).toEqual([]);
    const vacuum = await review(['VACUUM FULL items']);
    expect(vacuum.statements[0]).toMatchObject({ outsideTransaction: true, locks: [{ mode: 'ACCESS EXCLUSIVE', touch: 'rewrite' }] });
  });

  test('contract.up and expand.down are checked too, and quoted mixed-case names are resolved', async () => {
    const r = await review(['SELECT 1'], {
      contract: ['CREATE INDEX IF NOT EXISTS odd ON "Mixed Case" ("Odd Col")'],
      down: ['ALTER TABLE "Mixed Case" ALTER COLUMN "Odd Col" SET NOT NULL'],
    });
    expect(r.refused.map((f) => [f.field, f.check, f.table])).toEqual([
      ['contract.up', 'index-not-concurrent', '"public"."Mixed Case"'],
      ['expand.down', 'set-not-null', '"public"."Mixed Case"'],
    ]);
  });
});

describe('overrides', () => {
  test('unsafe overrides one check, with its reason; the others are still refused', async () => {
    const reason = 'items has 2,000 rows: the build takes milliseconds';
    const r = await review(['CREATE INDEX IF NOT EXISTS items_v ON items (v)', 'ALTER TABLE items ALTER COLUMN v SET NOT NULL'], {
      unsafe: [
        { check: 'index-not-concurrent', reason },
        { check: 'truncate', reason: 'nothing truncates here, kept by mistake' },
      ],
    });
    expect(r.overridden).toEqual([expect.objectContaining({ check: 'index-not-concurrent', override: reason })]);
    expect(r.refused.map((f) => f.check)).toEqual(['set-not-null']);
    expect(r.unused).toEqual([{ check: 'truncate', reason: 'nothing truncates here, kept by mistake' }]);
    expect(() => assertDdlSafe('m', r)).toThrow(
      /migration "m" has DDL that would block or rewrite a table with rows:\n {2}- expand.up\[1\] \[set-not-null\]/,
    );
    const allowed = await review(['CREATE INDEX IF NOT EXISTS items_v ON items (v)'], {
      unsafe: [{ check: 'index-not-concurrent', reason }],
    });
    expect(() => assertDdlSafe('m', allowed)).not.toThrow();
  });

  test('an unknown check and a missing reason are definition errors', async () => {
    const err = await review(['SELECT 1'], { unsafe: [{ check: 'no-such-check', reason: 'a long enough reason' }] }).catch((e) => e);
    expect(err).toBeInstanceOf(FerryError);
    expect(err.code).toBe('INVALID_DEFINITION');
    expect(err.message).toContain('unsafe[0].check "no-such-check" is not a check ferry makes; the checks are: index-not-concurrent,');
    await expect(review(['SELECT 1'], { unsafe: [{ check: 'truncate', reason: '' }] })).rejects.toThrow(/unsafe.0.reason: say why/);
  });

  test('an index without a name is refused: it could not be resumed or rebuilt', async () => {
    await expect(review(['SELECT 1', 'CREATE INDEX CONCURRENTLY ON items (v)'])).rejects.toThrow(
      /^expand.up\[1\] creates an index without a name: run again after a crash it would build a second one/,
    );
  });

  test('SQL the parser refuses names the field', async () => {
    await expect(review(['ALTER TABLE items ADD COLUM x int'])).rejects.toThrow(
      /expand.up is not valid SQL: syntax error at or near "int"/,
    );
  });
});
