import pg from 'pg';
import { FerryError } from '../../src/contract/errors';
import { backoffMs, ddlDefaults, needsOwnSession, runDdl } from '../../src/pg/ddl';
import { createFunctionSql, createTriggerSql, dropTriggerSql, triggerNames } from '../../src/sql/dual-write';
import { createTestDatabase, type TestDatabase } from '../helpers/db';

const ODD = '"Mixed Case"."Odd-Table"';

describe('DDL and trigger SQL (golden strings)', () => {
  test('trigger and function names are quoted, the function lives in schema ferry', () => {
    expect(triggerNames('orders-total')).toEqual({ trigger: '"ferry_dw_orders-total"', fn: '"ferry"."dw_orders-total"' });
  });

  test('a migration name that would be truncated is refused', () => {
    expect(() => triggerNames('x'.repeat(60))).toThrow(/longer than 63 bytes.*rename migration/);
  });

  test('the function runs the author body, then RETURN NEW', () => {
    expect(createFunctionSql('orders-total', 'NEW."Total Cents" := NEW.price_cents * NEW.quantity;')).toBe(
      `CREATE OR REPLACE FUNCTION "ferry"."dw_orders-total"() RETURNS trigger LANGUAGE plpgsql AS $ferry$
BEGIN
NEW."Total Cents" := NEW.price_cents * NEW.quantity;
RETURN NEW;
END
$ferry$`,
    );
  });

  test('the dollar tag never occurs in the body', () => {
    const sql = createFunctionSql('m', "NEW.note := $ferry$x$ferry$ || 'y';");
    expect(sql).toMatch(/AS \$ferry_1\$\n/);
    expect(sql.endsWith('\n$ferry_1$')).toBe(true);
  });

  test('the trigger is dropped and created in one statement list', () => {
    expect(createTriggerSql('orders-total', ODD)).toBe(
      `DROP TRIGGER IF EXISTS "ferry_dw_orders-total" ON "Mixed Case"."Odd-Table";
CREATE TRIGGER "ferry_dw_orders-total" BEFORE INSERT OR UPDATE ON "Mixed Case"."Odd-Table" FOR EACH ROW EXECUTE FUNCTION "ferry"."dw_orders-total"()`,
    );
  });

  test('drop removes trigger and function, only the function when the table is gone', () => {
    expect(dropTriggerSql('m', ODD, true)).toEqual([
      'DROP TRIGGER IF EXISTS "ferry_dw_m" ON "Mixed Case"."Odd-Table"',
      'DROP FUNCTION IF EXISTS "ferry"."dw_m"()',
    ]);
    expect(dropTriggerSql('m', ODD, false)).toEqual(['DROP FUNCTION IF EXISTS "ferry"."dw_m"()']);
  });

  test('CONCURRENTLY and VACUUM need their own session (read by the parser: a column named vacuum_at is not VACUUM)', async () => {
    expect(await needsOwnSession('CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a)')).toBe(true);
    expect(await needsOwnSession('drop index concurrently if exists i')).toBe(true);
    expect(await needsOwnSession('  VACUUM ANALYZE t')).toBe(true);
    expect(await needsOwnSession('ALTER TABLE t ADD COLUMN IF NOT EXISTS vacuum_at timestamptz')).toBe(false);
    expect(await needsOwnSession("COMMENT ON TABLE t IS 'built CONCURRENTLY'")).toBe(false);
  });

  test('backoff doubles from 50 ms with jitter and stops growing at 10 s', () => {
    expect(backoffMs(1, () => 0)).toBe(25);
    expect(backoffMs(1, () => 1)).toBe(50);
    expect(backoffMs(3, () => 1)).toBe(200);
    expect(backoffMs(30, () => 0)).toBe(5000);
    expect(backoffMs(30, () => 1)).toBe(10_000);
  });

  test('FERRY_LOCK_TIMEOUT sets the lock timeout; defaults otherwise', () => {
    expect(ddlDefaults({})).toEqual({ lockTimeoutMs: 1000, statementTimeoutMs: 60_000, attempts: 20 });
    expect(ddlDefaults({ FERRY_LOCK_TIMEOUT: '250ms' }).lockTimeoutMs).toBe(250);
    expect(ddlDefaults({ FERRY_LOCK_TIMEOUT: '2s' }).lockTimeoutMs).toBe(2000);
    expect(() => ddlDefaults({ FERRY_LOCK_TIMEOUT: 'soon' })).toThrow(/FERRY_LOCK_TIMEOUT "soon" is not a duration/);
  });
});

describe('runDdl against PostgreSQL', () => {
  let db: TestDatabase;

  /** A connection of its own, outside the pool (blocker, reader). */
  const connect = () => db.connect();

  beforeAll(async () => {
    db = await createTestDatabase('ddl');
  });
  afterAll(async () => {
    await db.drop();
  });
  beforeEach(async () => {
    await db.pool.query(`DROP SCHEMA IF EXISTS "Mixed Case" CASCADE; CREATE SCHEMA "Mixed Case";
      CREATE TABLE ${ODD} ("Id" bigint PRIMARY KEY, v int); INSERT INTO ${ODD} SELECT g, g FROM generate_series(1, 100) g`);
  });

  test('runs each statement and counts them; a second run changes nothing', async () => {
    const statements = [`ALTER TABLE ${ODD} ADD COLUMN IF NOT EXISTS "New Col" int`, `CREATE INDEX IF NOT EXISTS "odd v" ON ${ODD} (v)`];
    await expect(runDdl(db.pool, statements, { table: ODD })).resolves.toEqual({ statements: 2, retries: 0, skipped: 0, rebuilt: 0 });
    // The index is there and valid: the second run skips it.
    await expect(runDdl(db.pool, statements, { table: ODD })).resolves.toEqual({ statements: 2, retries: 0, skipped: 1, rebuilt: 0 });
    const { rows } = await db.pool.query(
      `SELECT count(*)::int AS n FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = 'New Col'`,
      [ODD],
    );
    expect(rows[0].n).toBe(1);
  });

  test('timeouts are SET LOCAL: nothing leaks into the pooled session', async () => {
    const pool = new pg.Pool({ connectionString: db.url, max: 1 });
    try {
      await runDdl(pool, [`ALTER TABLE ${ODD} ADD COLUMN IF NOT EXISTS a int`], { lockTimeoutMs: 123 });
      await runDdl(pool, [`CREATE INDEX CONCURRENTLY IF NOT EXISTS "odd a" ON ${ODD} (a)`], { lockTimeoutMs: 321 });
      const { rows } = await pool.query(`SELECT current_setting('lock_timeout') AS lock, current_setting('statement_timeout') AS stmt`);
      expect(rows[0]).toEqual({ lock: '0', stmt: '0' });
      const index = await pool.query(`SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('"Mixed Case"."odd a"')`);
      expect(index.rows).toEqual([{ indisvalid: true }]);
    } finally {
      await pool.end();
    }
  });

  test('a blocked ALTER is retried, succeeds once the blocker commits, and never holds readers past the lock timeout', async () => {
    const lockTimeoutMs = 300;
    const blocker = await connect();
    const reader = await connect();
    await blocker.query(`BEGIN; LOCK TABLE ${ODD} IN ACCESS SHARE MODE`);

    let ddlDone = false;
    const ddl = runDdl(db.pool, [`ALTER TABLE ${ODD} ADD COLUMN IF NOT EXISTS blocked int`], { lockTimeoutMs, table: ODD }).finally(() => {
      ddlDone = true;
    });
    const waits: number[] = [];
    const readLoop = (async () => {
      while (!ddlDone) {
        const started = Date.now();
        await reader.query(`SELECT count(*) FROM ${ODD}`);
        waits.push(Date.now() - started);
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    await new Promise((r) => setTimeout(r, 1500));
    expect(ddlDone).toBe(false);
    await blocker.query('COMMIT');

    const result = await ddl;
    await readLoop;
    expect(result.retries).toBeGreaterThanOrEqual(1);
    expect(Math.max(...waits)).toBeGreaterThan(50); // the reader did queue behind the waiting ALTER...
    expect(Math.max(...waits)).toBeLessThan(lockTimeoutMs + 300); // ...but never for much longer than the lock timeout
    const { rows } = await db.pool.query(
      `SELECT count(*)::int AS n FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = 'blocked'`,
      [ODD],
    );
    expect(rows[0].n).toBe(1);
  });

  test('after all attempts it throws a retryable error naming the table and the blocker', async () => {
    const blocker = await connect();
    await blocker.query(`BEGIN; LOCK TABLE ${ODD} IN ACCESS SHARE MODE`);
    const pid = (await blocker.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
    try {
      const err = await runDdl(db.pool, [`ALTER TABLE ${ODD} ADD COLUMN IF NOT EXISTS never int`], {
        lockTimeoutMs: 50,
        attempts: 3,
        table: ODD,
        sleep: async () => undefined,
      }).catch((e) => e);
      expect(err).toBeInstanceOf(FerryError);
      expect(err.code).toBe('UNAVAILABLE');
      expect(err.message).toContain('could not lock table "Mixed Case"."Odd-Table" within 50ms in 3 attempts');
      expect(err.message).toContain(`pid ${pid} (idle in transaction)`);
      expect(err.message).toContain(`pg_stat_activity a ON a.pid = l.pid WHERE l.relation = to_regclass('"Mixed Case"."Odd-Table"')`);
    } finally {
      await blocker.query('ROLLBACK');
    }
  });

  test('a wrong statement is a definition error naming it; the ones before it stay applied', async () => {
    const err = await runDdl(db.pool, [`ALTER TABLE ${ODD} ADD COLUMN IF NOT EXISTS ok int`, `ALTER TABLE ${ODD} DROP COLUMN nope`], {
      table: ODD,
    }).catch((e) => e);
    expect(err).toBeInstanceOf(FerryError);
    expect(err.code).toBe('INVALID_DEFINITION');
    expect(err.message).toMatch(
      /^DDL statement 2 of 2 on table "Mixed Case"."Odd-Table", "ALTER TABLE .* DROP COLUMN nope" failed: column "nope" .* \(SQLSTATE 42703\)\. Fix the statement/,
    );
    const { rows } = await db.pool.query(
      `SELECT count(*)::int AS n FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = 'ok'`,
      [ODD],
    );
    expect(rows[0].n).toBe(1);
  });

  test('statement_timeout stops a statement that runs too long', async () => {
    const err = await runDdl(db.pool, ['SELECT pg_sleep(2)'], { statementTimeoutMs: 100 }).catch((e) => e);
    expect(err).toBeInstanceOf(FerryError);
    expect(err.message).toContain('SQLSTATE 57014');
  });
});
