/** The Web UI's summary line: what a migration does, from its definition (pure; no server). */
import { assignedColumns, summaryLine } from '../../src/client/summary';
import { defineMigration } from '../../src/definition/define';
import type { LoadedMigration } from '../../src/definition/registry';

const loaded = (definition: ReturnType<typeof defineMigration>): LoadedMigration => ({
  name: 'm',
  file: 'm.ts',
  definition,
  specHash: 'x',
});

/** users.full_name → display_name (set mode, app dual-write), with `contract`. */
const displayName = (contract: Parameters<typeof defineMigration>[0]['contract']) =>
  defineMigration({
    table: 'users',
    expand: { up: 'ALTER TABLE users ADD COLUMN display_name text', down: 'ALTER TABLE users DROP COLUMN display_name' },
    dualWrite: { by: 'app' },
    backfill: { where: 'display_name IS NULL', set: 'display_name = full_name' },
    contract,
  });

test('the columns a set assigns, past commas inside calls and quotes', () => {
  expect(assignedColumns(`a = coalesce(b, c), "Odd, Name" = 'x,y', d=1`)).toEqual(['a', '"Odd, Name"', 'd']);
});

test('a set-mode migration: what it backfills, which rows, what the contract drops and after what', async () => {
  const m = displayName({ up: 'ALTER TABLE users DROP COLUMN IF EXISTS full_name', after: '7d' });
  expect(await summaryLine(loaded(m), { coolOffMs: 7 * 86_400_000, approvalRequired: true })).toBe(
    'backfill users.display_name where display_name IS NULL — contract drops full_name after 7d cool-off and approval',
  );
});

test('a contract that drops nothing says how many statements it runs; no approval, no "and approval"', async () => {
  const m = defineMigration({
    table: 'app.orders',
    expand: { up: 'ALTER TABLE app.orders ADD COLUMN total_cents bigint', down: 'ALTER TABLE app.orders DROP COLUMN total_cents' },
    dualWrite: { by: 'app' },
    backfill: { where: 'total_cents IS NULL', set: 'total_cents = round(total * 100)' },
    contract: { up: ['ALTER TABLE app.orders ALTER COLUMN total_cents SET NOT NULL', 'ANALYZE app.orders'], approval: false },
  });
  expect(await summaryLine(loaded(m), { coolOffMs: 30_000, approvalRequired: false })).toBe(
    'backfill app.orders.total_cents where total_cents IS NULL — contract runs 2 statements after 30s cool-off',
  );
});

test("the drops are read by PostgreSQL's parser: tables, columns without COLUMN, quoted names, not words in a string", async () => {
  const m = displayName({
    up: [
      'ALTER TABLE users DROP full_name, DROP COLUMN IF EXISTS "Nick Name"',
      'DROP TABLE IF EXISTS app.user_names',
      "COMMENT ON TABLE users IS 'DROP COLUMN x'",
    ],
    approval: false,
  });
  expect(await summaryLine(loaded(m), { coolOffMs: 30_000, approvalRequired: false })).toBe(
    'backfill users.display_name where display_name IS NULL — contract drops full_name, "Nick Name", table app.user_names after 30s cool-off',
  );
});
