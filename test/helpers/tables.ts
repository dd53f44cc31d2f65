import type { TableInfo } from '../../src/pg/catalog';

/** Table descriptions for the golden tests of the SQL builders (test/sql/): as `describeTable` returns them. */

/** `public.posts`, keyed by `id bigint`. */
export const posts: TableInfo = {
  schema: 'public',
  name: 'posts',
  quoted: '"public"."posts"',
  key: [{ name: 'id', type: 'bigint' }],
  estimatedRows: 0,
};

/** A mixed-case schema, a table name with a dash and a composite key, one of whose columns has a quote in its name. */
export const odd: TableInfo = {
  schema: 'Mixed Case',
  name: 'Odd-Table',
  quoted: '"Mixed Case"."Odd-Table"',
  key: [
    { name: 'Tenant', type: 'integer' },
    { name: 'we"ird', type: 'character varying(20)' },
  ],
  estimatedRows: 0,
};

/** The backfill's SQL in these tests. */
export const sqlOf = { where: 'data IS NULL', set: 'data = raw::jsonb' };
