/**
 * `ferry plan` forecasts each statement (lock, rewrite/scan, duration) and lists the dangerous
 * forms; `ferry plan` and `ferry start` refuse them with exit 2 before anything runs; an `unsafe`
 * override is shown with its reason and goes into the start input and the audit trail.
 */
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { createHarness, type Harness } from '../helpers/harness';
import { migrationInput } from '../../src/client/start';
import { defineMigration } from '../../src/definition/define';
import { specHash } from '../../src/definition/registry';
import { initialState } from '../../src/workflows/state';

let db: TestDatabase;
let h: Harness;

const REASON = 'posts is small here; the scan takes well under a second';

/** A migration file: posts.member_uuid with an index, made NOT NULL at the contract. */
function source(index: string, extra = ''): string {
  return `export default {
  table: 'posts',
  expand: {
    up: ['ALTER TABLE posts ADD COLUMN IF NOT EXISTS member_uuid uuid', ${JSON.stringify(index)}],
    down: ['DROP INDEX CONCURRENTLY IF EXISTS posts_member_uuid', 'ALTER TABLE posts DROP COLUMN IF EXISTS member_uuid'],
  },
  backfill: { where: 'member_uuid IS NULL', set: 'member_uuid = gen_random_uuid()' },
  contract: { up: 'ALTER TABLE posts ALTER COLUMN member_uuid SET NOT NULL' },
  ${extra}
};
`;
}

beforeAll(async () => {
  db = await createTestDatabase('ddl_plan');
  await db.pool.query(`
    CREATE TABLE posts (id bigserial PRIMARY KEY, body text);
    INSERT INTO posts (body) SELECT 'x' FROM generate_series(1, 20000) g;
    ANALYZE posts;`);
  h = createHarness(db, {});
  h.addMigration('refused', source('CREATE INDEX IF NOT EXISTS posts_member_uuid ON posts (member_uuid)'));
  h.addMigration(
    'allowed',
    source(
      'CREATE INDEX CONCURRENTLY IF NOT EXISTS posts_member_uuid ON posts (member_uuid)',
      `unsafe: [{ check: 'set-not-null', reason: ${JSON.stringify(REASON)} }],`,
    ),
  );
});

afterAll(async () => {
  await h?.close();
  await db?.drop();
});

const snapshot = async () =>
  (
    await db.pool.query(`SELECT (SELECT count(*)::int FROM information_schema.columns WHERE table_name = 'posts') AS columns,
                                (SELECT count(*)::int FROM pg_indexes WHERE tablename = 'posts') AS indexes`)
  ).rows[0];

test('plan and start refuse the dangerous forms with exit 2, each with its safe form, and change nothing', async () => {
  const name = h.name('refused');
  const before = await snapshot();
  const plan = await h.ferry('plan', name);
  expect(plan.code).toBe(2);
  expect(plan.stdout).toContain("DDL forecast (read by PostgreSQL's parser");
  expect(plan.stdout).toContain('  expand.up[1]: CREATE INDEX\n      SHARE on "public"."posts" (20,000 rows');
  expect(plan.stdout).toContain(
    '      REFUSED [index-not-concurrent]: CREATE INDEX without CONCURRENTLY holds a SHARE lock on "public"."posts"',
  );
  expect(plan.stdout).toContain('        instead: CREATE [UNIQUE] INDEX CONCURRENTLY IF NOT EXISTS <name> ON "public"."posts"');
  expect(plan.stdout).toContain('      REFUSED [set-not-null]: SET NOT NULL on "member_uuid" scans every row');
  expect(plan.stdout).toContain('trial batch:    not run: skipped (the DDL was refused; see the findings)');
  expect(plan.stderr).toContain(`ferry: migration "${name}" has DDL that would block or rewrite a table with rows:`);
  expect(plan.stderr).toContain('  - contract.up [set-not-null]:');
  expect(plan.stderr).not.toMatch(/\n\s+at /);
  expect(await snapshot()).toEqual(before); // the trial did not even run

  const start = await h.ferry('start', name);
  expect(start.code).toBe(2);
  expect(start.stderr).toContain(`migration "${name}" has DDL that would block or rewrite a table with rows:`);
  expect(start.stderr).toContain('  - expand.up[1] [index-not-concurrent]:');
  expect((await h.ferry('status', name)).code).toBe(2); // no workflow was started
  expect(await snapshot()).toEqual(before);
});

test('plan forecasts each statement and shows the override with its reason', async () => {
  const name = h.name('allowed');
  const before = await snapshot();
  const json = await h.ferry('plan', name, '--json');
  expect(json.code).toBe(0);
  const plan = JSON.parse(json.stdout);
  expect(plan.review.refused).toEqual([]);
  expect(plan.review.overridden).toEqual([expect.objectContaining({ check: 'set-not-null', field: 'contract.up', override: REASON })]);
  const [add, index] = plan.review.statements;
  expect(add).toMatchObject({
    field: 'expand.up[0]',
    kind: 'ALTER TABLE (ADD COLUMN)',
    locks: [{ mode: 'ACCESS EXCLUSIVE', touch: 'none', rows: 20000 }],
  });
  expect(index).toMatchObject({
    field: 'expand.up[1]',
    kind: 'CREATE INDEX CONCURRENTLY',
    outsideTransaction: true,
    locks: [
      {
        table: '"public"."posts"',
        mode: 'SHARE UPDATE EXCLUSIVE',
        touch: 'scan',
        estimate: { how: expect.stringMatching(/ heap ÷ 25 MB\/s × 2 \(index build, CONCURRENTLY: two scans\)$/) },
      },
    ],
  });
  expect(index.locks[0].estimate.seconds).toBeGreaterThanOrEqual(0);
  expect(plan.proof.skipped).toContain('expand.up[1] (CREATE INDEX CONCURRENTLY cannot run in a transaction; it runs at expand)');
  expect(plan.trial).toMatchObject({ ran: true });

  const text = await h.ferry('plan', name);
  expect(text.code).toBe(0);
  expect(text.stdout).toContain(`      allowed by unsafe [set-not-null]: "${REASON}"`);
  expect(text.stdout).toContain('  contract.up: ALTER TABLE (SET NOT NULL)\n      ACCESS EXCLUSIVE on "public"."posts" (20,000 rows');
  expect(text.stdout).toMatch(/scans the table, (under 1 s|about \d+)/);
  expect(await snapshot()).toEqual(before);
});

test("the override and its reason go into the start input and the audit trail (no secret: the author's text only)", () => {
  const definition = defineMigration({
    table: 'posts',
    expand: { up: 'SELECT 1', down: 'SELECT 1' },
    backfill: { where: 'false', set: 'id = id' },
    contract: { up: 'SELECT 1' },
    unsafe: [{ check: 'set-not-null', reason: REASON }],
  });
  const input = migrationInput({ name: 'm', file: 'm.ts', definition, specHash: specHash(definition) }, { startedBy: 'ci' });
  expect(input.unsafe).toEqual([{ check: 'set-not-null', reason: REASON }]);
  const audit = initialState(input, new Date('2026-01-01T00:00:00Z')).audit;
  expect(audit).toContainEqual({
    at: '2026-01-01T00:00:00.000Z',
    action: 'unsafe DDL allowed',
    by: 'ci',
    detail: `set-not-null: ${REASON}`,
  });
});
