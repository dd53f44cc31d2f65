/**
 * The activities of every phase but the backfill, run through MockActivityEnvironment against a
 * real PostgreSQL. A pgroll-style harness drives each migration expand → rollback → expand →
 * contract, running every phase twice to prove it can be re-run.
 */
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { createContractActivities } from '../../src/activities/contract';
import type { ActivityDeps, MigrationRef } from '../../src/activities/context';
import { createDualWriteActivities } from '../../src/activities/dual-write';
import { createExpandActivities } from '../../src/activities/expand';
import { createVerifyActivities } from '../../src/activities/verify';
import { migrateStore } from '../../src/store/migrate';
import { defineMigration, type MigrationDefinitionInput } from '../../src/definition/define';
import { specHash, type LoadedMigration } from '../../src/definition/registry';
import { createTestDatabase, type TestDatabase } from '../helpers/db';

const ODD = '"Mixed Case"."Odd-Table"';

/** Trigger dual-write on a quoted mixed-case table: "Total Cents" replaces price × quantity. */
const oddTotal = defineMigration({
  table: ODD,
  expand: {
    up: `ALTER TABLE ${ODD} ADD COLUMN IF NOT EXISTS "Total Cents" bigint`,
    down: `ALTER TABLE ${ODD} DROP COLUMN IF EXISTS "Total Cents"`,
  },
  dualWrite: { by: 'trigger', body: 'NEW."Total Cents" := NEW.price_cents * NEW.quantity;' },
  backfill: { where: '"Total Cents" IS NULL', set: '"Total Cents" = price_cents * quantity' },
  verify: { where: '"Total Cents" IS DISTINCT FROM price_cents * quantity' },
  contract: {
    up: [`ALTER TABLE ${ODD} DROP COLUMN IF EXISTS quantity`, `ALTER TABLE ${ODD} DROP COLUMN IF EXISTS price_cents`],
  },
});

/** Application dual-write on a plain table. */
const ordersTotal = defineMigration({
  table: 'orders',
  expand: {
    up: 'ALTER TABLE orders ADD COLUMN IF NOT EXISTS total_cents bigint',
    down: 'ALTER TABLE orders DROP COLUMN IF EXISTS total_cents',
  },
  backfill: { where: 'total_cents IS NULL', set: 'total_cents = price_cents * quantity' },
  // SET NOT NULL the safe way (a table with rows): a validated CHECK first, so that it scans nothing.
  // Run again, the ADD CONSTRAINT is skipped (the constraint is there) and the rest changes nothing.
  contract: {
    up: [
      'ALTER TABLE orders ADD CONSTRAINT orders_total_cents_not_null CHECK (total_cents IS NOT NULL) NOT VALID',
      'ALTER TABLE orders VALIDATE CONSTRAINT orders_total_cents_not_null',
      'ALTER TABLE orders ALTER COLUMN total_cents SET NOT NULL',
    ],
  },
});

function loaded(name: string, definition: ReturnType<typeof defineMigration>): LoadedMigration {
  return { name, file: `${name}.ts`, definition, specHash: specHash(definition) };
}

function refOf(m: LoadedMigration): MigrationRef {
  return { name: m.name, specHash: m.specHash };
}

let db: TestDatabase;
let deps: ActivityDeps;
let acts: ReturnType<typeof createActivities>;
const heartbeats: unknown[] = [];
let env: MockActivityEnvironment;

function createActivities(d: ActivityDeps) {
  const ddl = { lockTimeoutMs: 500, attempts: 5 };
  return {
    ...createExpandActivities(d, { ddl }),
    ...createDualWriteActivities(d, { ddl, rangeSize: 3 }),
    ...createVerifyActivities(d, { rangeSize: 4 }),
    ...createContractActivities(d, { ddl }),
  };
}

const migrations = new Map<string, LoadedMigration>();
function add(name: string, input: MigrationDefinitionInput): MigrationRef {
  const m = loaded(name, defineMigration(input));
  migrations.set(name, m);
  return refOf(m);
}

const odd = loaded('odd-total', oddTotal);
const orders = loaded('orders-total', ordersTotal);
migrations.set(odd.name, odd).set(orders.name, orders);

/** Runs an activity in the mock environment, typed. */
function run<A extends unknown[], R>(fn: (...args: A) => Promise<R>, ...args: A): Promise<R> {
  return env.run(fn, ...args) as Promise<R>;
}

/** The failure an activity run rejects with. */
async function failureOf(p: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof ApplicationFailure)) throw new Error(`expected an ApplicationFailure, got ${String(err)}`);
  return err;
}

async function one(sql: string, params: unknown[] = []): Promise<Record<string, unknown>> {
  return (await db.pool.query(sql, params)).rows[0];
}

async function hasColumn(table: string, column: string): Promise<boolean> {
  const r = await one(
    `SELECT count(*)::int AS n FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = $2 AND NOT attisdropped`,
    [table, column],
  );
  return r.n === 1;
}

async function triggerState(name: string): Promise<{ trigger: boolean; fn: boolean }> {
  const r = await one(`SELECT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = $1) AS trigger, to_regprocedure($2) IS NOT NULL AS fn`, [
    `ferry_dw_${name}`,
    `ferry."dw_${name}"()`,
  ]);
  return { trigger: r.trigger as boolean, fn: r.fn as boolean };
}

beforeAll(async () => {
  db = await createTestDatabase('phases');
  deps = { pool: db.pool, migrations };
  acts = createActivities(deps);
});
afterAll(() => db.drop());

beforeEach(async () => {
  heartbeats.length = 0;
  env = new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') }); // expected failures stay quiet
  env.on('heartbeat', (d: unknown) => heartbeats.push(d));
  await db.pool.query(`DROP SCHEMA IF EXISTS "Mixed Case" CASCADE; DROP SCHEMA IF EXISTS ferry CASCADE; DROP TABLE IF EXISTS orders;
    CREATE SCHEMA "Mixed Case";
    CREATE TABLE ${ODD} ("Id" bigint PRIMARY KEY, price_cents int NOT NULL, quantity int NOT NULL);
    INSERT INTO ${ODD} SELECT g, g * 100, g % 4 + 1 FROM generate_series(1, 10) g;
    CREATE TABLE orders (id bigint PRIMARY KEY, price_cents int NOT NULL, quantity int NOT NULL);
    INSERT INTO orders SELECT g, g * 10, 2 FROM generate_series(1, 5) g;
    ANALYZE ${ODD}; ANALYZE orders;`);
  await migrateStore(db.pool); // ferry's schema afresh each test, as a worker installs it at start-up
});

/** Checks run after every run of a phase. */
interface PhaseChecks {
  expanded(): Promise<void>;
  rolledBack(): Promise<void>;
  /** Between expand and contract: stands in for the backfill (not these activities' job). */
  backfill(): Promise<void>;
  contracted(): Promise<void>;
}

/**
 * pgroll's harness: expand → rollback → expand → contract, each phase twice, checking the
 * database after every run. Returns each run's result.
 */
async function lifecycle(ref: MigrationRef, checks: PhaseChecks): Promise<Record<string, unknown[]>> {
  const results: Record<string, unknown[]> = { expand: [], rollback: [], contract: [] };
  const steps: ['expand' | 'rollback' | 'contract', () => Promise<void>][] = [
    ['expand', checks.expanded],
    ['rollback', checks.rolledBack],
    ['expand', checks.expanded],
    ['contract', checks.contracted],
  ];
  for (const [phase, check] of steps) {
    if (phase === 'contract') await checks.backfill();
    for (let attempt = 1; attempt <= 2; attempt++) {
      results[phase].push(await run(acts[phase], ref));
      await check();
    }
  }
  return results;
}

describe('describeTarget', () => {
  test('describes a quoted mixed-case table: quoted name, key, estimated rows', async () => {
    await expect(run(acts.describeTarget, refOf(odd))).resolves.toEqual({ table: ODD, key: ['Id'], rowsEstimated: 10 });
  });

  test('a missing table fails for good, naming it, before anything is changed', async () => {
    const ref = add('missing-table', {
      table: '"Mixed Case"."Nope"',
      expand: { up: 'CREATE TABLE IF NOT EXISTS expand_ran (id int)', down: 'DROP TABLE IF EXISTS expand_ran' },
      backfill: { where: 'false', set: 'x = 1' },
      contract: { up: 'SELECT 1' },
    });
    for (const activity of [acts.describeTarget, acts.expand] as ((r: MigrationRef) => Promise<unknown>)[]) {
      const err = await failureOf(run(activity, ref));
      expect(err).toMatchObject({ type: 'TABLE_NOT_FOUND', nonRetryable: true });
      expect(err.message).toContain('table "Mixed Case"."Nope" does not exist');
    }
    expect(await one(`SELECT to_regclass('expand_ran') IS NULL AS absent`)).toEqual({ absent: true });
  });

  test('a key naming a missing column is a definition error, not retried', async () => {
    const ref = add('bad-key', {
      table: ODD,
      key: ['Id', 'nope'],
      expand: { up: 'SELECT 1', down: 'SELECT 1' },
      backfill: { where: 'false', set: 'price_cents = 1' },
      contract: { up: 'SELECT 1' },
    });
    const err = await failureOf(run(acts.describeTarget, ref));
    expect(err).toMatchObject({ type: 'INVALID_DEFINITION', nonRetryable: true });
    expect(err.message).toContain('has no column "nope"');
  });
});

describe('lifecycle harness: every phase twice', () => {
  test('trigger dual-write on "Mixed Case"."Odd-Table": the trigger syncs the new column, and is gone after rollback and contract', async () => {
    const results = await lifecycle(refOf(odd), {
      async expanded() {
        expect(await hasColumn(ODD, 'Total Cents')).toBe(true);
        expect(await triggerState('odd-total')).toEqual({ trigger: true, fn: true });
        await db.pool.query(`DELETE FROM ${ODD} WHERE "Id" = 100; INSERT INTO ${ODD} ("Id", price_cents, quantity) VALUES (100, 250, 3)`);
        expect(await one(`SELECT "Total Cents" AS t FROM ${ODD} WHERE "Id" = 100`)).toEqual({ t: '750' });
        await db.pool.query(`UPDATE ${ODD} SET quantity = 4 WHERE "Id" = 100`);
        expect(await one(`SELECT "Total Cents" AS t FROM ${ODD} WHERE "Id" = 100`)).toEqual({ t: '1000' });
      },
      async rolledBack() {
        expect(await hasColumn(ODD, 'Total Cents')).toBe(false);
        expect(await triggerState('odd-total')).toEqual({ trigger: false, fn: false });
        await db.pool.query(`UPDATE ${ODD} SET quantity = 2 WHERE "Id" = 100`); // writes still work
      },
      async backfill() {
        await db.pool.query(`UPDATE ${ODD} SET "Total Cents" = price_cents * quantity WHERE "Total Cents" IS NULL`);
        const v = await run(acts.verify, { ...refOf(odd), runId: 'r1' });
        expect(v).toEqual({ wrongRows: 0, failedRows: 0, checkedRows: 11, ranges: 3 });
      },
      async contracted() {
        expect(await triggerState('odd-total')).toEqual({ trigger: false, fn: false });
        expect(await hasColumn(ODD, 'quantity')).toBe(false);
        expect(await hasColumn(ODD, 'Total Cents')).toBe(true);
        await db.pool.query(`INSERT INTO ${ODD} ("Id", "Total Cents") VALUES (101, 5)`);
        await db.pool.query(`DELETE FROM ${ODD} WHERE "Id" = 101`);
      },
    });
    expect(results.expand).toEqual(Array(4).fill({ statements: 3, retries: 0, triggerStatements: 2 })); // expand.up + function + trigger
    expect(results.rollback).toEqual(Array(2).fill({ statements: 3, retries: 0, triggerStatements: 2 })); // drop trigger + function + expand.down
    expect(results.contract).toEqual(Array(2).fill({ statements: 4, retries: 0, triggerStatements: 2 }));
  });

  test('application dual-write on a plain table: no trigger at any point', async () => {
    const results = await lifecycle(refOf(orders), {
      async expanded() {
        expect(await hasColumn('orders', 'total_cents')).toBe(true);
        expect(await triggerState('orders-total')).toEqual({ trigger: false, fn: false });
      },
      async rolledBack() {
        expect(await hasColumn('orders', 'total_cents')).toBe(false);
      },
      async backfill() {
        await db.pool.query('UPDATE orders SET total_cents = price_cents * quantity WHERE total_cents IS NULL');
      },
      async contracted() {
        expect(await one(`SELECT attnotnull FROM pg_attribute WHERE attrelid = 'orders'::regclass AND attname = 'total_cents'`)).toEqual({
          attnotnull: true,
        });
      },
    });
    expect(results.expand).toEqual(Array(4).fill({ statements: 1, retries: 0, triggerStatements: 0 }));
    expect(results.contract).toEqual(Array(2).fill({ statements: 5, retries: 0, triggerStatements: 2 })); // drop trigger + function (IF EXISTS) + contract.up
  });

  test('contract can be re-run after its statements dropped the table', async () => {
    const ref = add('drop-table', {
      table: 'orders',
      expand: { up: 'SELECT 1', down: 'SELECT 1' },
      dualWrite: { by: 'trigger', body: 'NEW.quantity := NEW.quantity;' },
      backfill: { where: 'false', set: 'quantity = quantity' },
      contract: { up: 'DROP TABLE IF EXISTS orders' },
    });
    await run(acts.expand, ref);
    expect(await triggerState('drop-table')).toEqual({ trigger: true, fn: true });
    await run(acts.contract, ref);
    await expect(run(acts.contract, ref)).resolves.toEqual({ statements: 2, retries: 0, triggerStatements: 1 }); // drop function + contract.up
    expect(await triggerState('drop-table')).toEqual({ trigger: false, fn: false });
  });
});

describe('dual-write probe', () => {
  test('counts rows inserted in the old shape after the mark; not rows before it, not updates, not rows in the new shape, not failed rows', async () => {
    const ref = refOf(orders);
    await run(acts.expand, ref);
    await db.pool.query('UPDATE orders SET total_cents = price_cents * quantity WHERE id = 5'); // backfilled before the mark
    const { xidMark } = await run(acts.markDeploy, { ...ref, runId: 'r1' });
    expect(xidMark).toMatch(/^[0-9]+$/);

    await db.pool.query(`INSERT INTO orders (id, price_cents, quantity) SELECT g, 1, 1 FROM generate_series(10, 12) g`); // old shape
    await db.pool.query(`INSERT INTO orders (id, price_cents, quantity, total_cents) VALUES (20, 3, 2, 6), (21, 1, 1, 1)`); // new shape
    await db.pool.query('UPDATE orders SET price_cents = price_cents + 1 WHERE id = 1'); // an update: dual-writing code may do this
    await db.pool.query('UPDATE orders SET price_cents = 7, total_cents = 14 WHERE id = 2'); // new-shape update
    await db.pool.query(`INSERT INTO ferry.failed_rows (migration, run_id, key, error) VALUES
      ('orders-total', 'r1', ARRAY['11'], 'recorded'), ('orders-total', 'r0', ARRAY['12'], 'other run')`);

    const probe = await run(acts.probeDualWrite, { ...ref, runId: 'r1', xidMark });
    expect(probe).toEqual({ badRows: 2, checkedRows: 5, skipped: false }); // 10 and 12 of 10, 11, 12, 20, 21; 11 is recorded as failed
    for (const beat of heartbeats) {
      expect(Object.values(beat as object).every((v) => typeof v === 'number')).toBe(true); // counts only
    }
    expect(heartbeats.at(-1)).toEqual({ ranges: 2, checkedRows: 5, badRows: 2 });
  });

  test("with ferry's trigger, rows the old application writes after the mark are in the new shape", async () => {
    const ref = refOf(odd);
    await run(acts.expand, ref);
    const { xidMark } = await run(acts.markDeploy, { ...ref, runId: 'r1' });
    await db.pool.query(`INSERT INTO ${ODD} ("Id", price_cents, quantity) VALUES (50, 1, 1), (51, 2, 2)`);
    await expect(run(acts.probeDualWrite, { ...ref, runId: 'r1', xidMark })).resolves.toEqual({
      badRows: 0,
      checkedRows: 2,
      skipped: false,
    });
  });

  test('a probe without a deploy mark is refused', async () => {
    const err = await failureOf(run(acts.probeDualWrite, { ...refOf(orders), runId: 'no-mark', xidMark: '1' }));
    expect(err.message).toContain('has no deploy mark');
  });
});

describe('verify', () => {
  test('counts wrong rows by key ranges and excludes recorded failed rows', async () => {
    const ref = refOf(odd);
    await run(acts.expand, ref);
    await db.pool.query(`UPDATE ${ODD} SET "Total Cents" = price_cents * quantity WHERE "Id" <= 6`);
    await db.pool.query(`ALTER TABLE ${ODD} DISABLE TRIGGER USER; UPDATE ${ODD} SET "Total Cents" = 1 WHERE "Id" = 2;
      ALTER TABLE ${ODD} ENABLE TRIGGER USER`); // wrong, not just missing
    await db.pool.query(`INSERT INTO ferry.failed_rows (migration, run_id, key, error) VALUES
      ('odd-total', 'r1', ARRAY['8'], 'boom'), ('odd-total', 'r1', ARRAY['9'], 'boom'), ('odd-total', 'r2', ARRAY['10'], 'boom')`);

    const result = await run(acts.verify, { ...ref, runId: 'r1' });
    expect(result).toEqual({ wrongRows: 3, failedRows: 2, checkedRows: 10, ranges: 3 }); // 2, 7 and 10
    expect(heartbeats.at(-1)).toEqual({ ranges: 3, checkedRows: 10, wrongRows: 3 });
  });

  test('stops between ranges when the activity is cancelled', async () => {
    env.on('heartbeat', (d: { ranges: number }) => {
      if (d.ranges === 1) env.cancel();
    });
    await run(acts.expand, refOf(odd));
    await expect(run(acts.verify, { ...refOf(odd), runId: 'r1' })).rejects.toBeInstanceOf(CancelledFailure);
  });
});
