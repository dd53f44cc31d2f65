/**
 * Which tables and columns a migration's DDL changes, read by PostgreSQL's parser
 * (src/sql/touches.ts), and when two migrations share columns: pure functions.
 */
import { overlap, touchedColumns, WHOLE_TABLE } from '../../src/sql/touches';

const ddl = (up: string[], down: string[] = [], contract: string[] = []) => ({
  table: 'posts',
  expand: { up, down },
  contract: { up: contract },
});

test('columns added, dropped, altered, indexed, renamed and checked, by quoted table', async () => {
  const touches = await touchedColumns(
    ddl(
      [
        'ALTER TABLE posts ADD COLUMN IF NOT EXISTS member_uuid uuid',
        'CREATE INDEX CONCURRENTLY IF NOT EXISTS posts_title ON app.posts (lower(title), author)',
        'ALTER TABLE "Mixed Case"."Odd-Table" ADD CONSTRAINT c CHECK ("Score" > 0) NOT VALID',
      ],
      ['ALTER TABLE posts DROP COLUMN IF EXISTS member_uuid'],
      ['ALTER TABLE posts RENAME COLUMN member_id TO legacy_member_id', 'ALTER TABLE posts ALTER COLUMN body SET NOT NULL'],
    ),
  );
  expect(touches).toEqual([
    { table: '"public"."posts"', columns: ['body', 'legacy_member_id', 'member_id', 'member_uuid'] },
    { table: '"app"."posts"', columns: ['author', 'title'] },
    { table: '"Mixed Case"."Odd-Table"', columns: ['Score'] },
  ]);
});

test('a statement naming the table but no column changes the whole table; one without a table, nothing', async () => {
  expect(await touchedColumns(ddl(['ALTER TABLE posts SET (fillfactor = 70)', 'DROP INDEX IF EXISTS posts_title']))).toEqual([
    { table: '"public"."posts"', columns: [WHOLE_TABLE] },
  ]);
});

test("SQL the parser refuses counts as the whole of the migration's table", async () => {
  expect(await touchedColumns(ddl(['ALTER TABEL posts ADD COLUMN x int']))).toEqual([
    { table: '"public"."posts"', columns: [WHOLE_TABLE] },
  ]);
});

test('overlap: shared columns of the same table; the whole table overlaps any column', () => {
  const a = [{ table: '"public"."posts"', columns: ['member_id', 'member_uuid'] }];
  expect(overlap(a, [{ table: '"public"."posts"', columns: ['member_uuid', 'title'] }])).toEqual([
    { table: '"public"."posts"', columns: ['member_uuid'] },
  ]);
  expect(overlap(a, [{ table: '"public"."posts"', columns: ['title'] }])).toEqual([]);
  expect(overlap(a, [{ table: '"public"."users"', columns: ['member_uuid'] }])).toEqual([]);
  expect(overlap(a, [{ table: '"public"."posts"', columns: [WHOLE_TABLE] }])).toEqual([
    { table: '"public"."posts"', columns: [WHOLE_TABLE, 'member_id', 'member_uuid'] },
  ]);
});
