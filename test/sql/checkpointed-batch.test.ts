import { buildCheckpointedSetBatch, type CheckpointedBatch } from '../../src/sql/checkpointed-batch';
import { odd, posts, sqlOf } from '../helpers/tables';

/**
 * Golden strings of the set-mode batch statement with its checkpoint (one round trip);
 * test/engine/batch-transaction.test.ts runs it for real: its guard, a checkpoint moved under it,
 * a stop requested while it runs.
 */

const batch: CheckpointedBatch = {
  partition: { name: 'posts-data', runId: 'r1', partition: 2 },
  guard: { pass: 1, batches: '41', lastKey: ['50'] },
  range: { shape: { lower: 1, upper: 1 }, values: ['50', '1000'] },
  size: 2000,
  syncWhenDone: true,
};

describe('buildCheckpointedSetBatch', () => {
  it('guards the window by the checkpoint, advances it in the same statement, and commits synchronously when done', () => {
    expect(buildCheckpointedSetBatch(posts, sqlOf, batch).split('\n')).toEqual([
      'WITH ferry_checkpoint AS MATERIALIZED (SELECT c.pass, c.last_key, c.batches, c.done, c.stop_requested,',
      " c.pass = 1 AND c.batches = 41::bigint AND c.last_key IS NOT DISTINCT FROM ARRAY['50']::text[] AND NOT c.done AND NOT c.stop_requested AS go",
      " FROM ferry.backfill_checkpoints c WHERE c.migration = 'posts-data' AND c.run_id = 'r1' AND c.partition = 2),",
      'ferry_batch AS MATERIALIZED (SELECT "id" FROM "public"."posts" WHERE "id" > \'50\'::bigint AND "id" <= \'1000\'::bigint AND (SELECT go FROM ferry_checkpoint) ORDER BY "id" LIMIT 2000),',
      'ferry_window AS MATERIALIZED (SELECT (SELECT count(*) FROM ferry_batch)::int AS scanned, (SELECT ARRAY[max("id")::text] FROM ferry_batch HAVING count(*) > 0) AS last_key),',
      'ferry_updated AS (UPDATE "public"."posts" SET data = raw::jsonb',
      ' WHERE "id" IN (SELECT "id" FROM ferry_batch) AND (data IS NULL)',
      ' RETURNING 1),',
      'ferry_advanced AS (UPDATE ferry.backfill_checkpoints c SET last_key = COALESCE((SELECT last_key FROM ferry_window), c.last_key),',
      ' rows_scanned = c.rows_scanned + (SELECT scanned FROM ferry_window), rows_updated = c.rows_updated + (SELECT count(*) FROM ferry_updated),',
      ' batches = c.batches + 1, batch_size = 2000, done = (SELECT scanned FROM ferry_window) < 2000, updated_at = now()',
      " WHERE c.migration = 'posts-data' AND c.run_id = 'r1' AND c.partition = 2 AND c.pass = 1 AND c.batches = 41::bigint AND (SELECT go FROM ferry_checkpoint)",
      ' RETURNING c.stop_requested)',
      'SELECT (SELECT scanned FROM ferry_window) AS scanned,',
      ' (SELECT count(*) FROM ferry_updated)::int AS updated,',
      ' (SELECT last_key FROM ferry_window) AS last_key,',
      ' EXISTS (SELECT FROM ferry_advanced) AS advanced,',
      ' (SELECT stop_requested FROM ferry_advanced) AS stop_requested,',
      ' cp.pass AS checkpoint_pass, cp.last_key AS checkpoint_last_key, cp.batches::text AS checkpoint_batches,',
      ' cp.done AS checkpoint_done, cp.stop_requested AS checkpoint_stop_requested,',
      " CASE WHEN cp.go AND NOT EXISTS (SELECT FROM ferry_advanced) THEN ferry.checkpoint_moved('posts-data', 'r1', 2) END AS moved,",
      " CASE WHEN cp.go AND (SELECT scanned FROM ferry_window) < 2000 THEN set_config('synchronous_commit', 'on', true) END AS synchronous_commit",
      'FROM (SELECT) AS ferry_one LEFT JOIN ferry_checkpoint cp ON true',
    ]);
  });

  it('quotes a composite key and every value as a literal; a first batch guards on a NULL last key', () => {
    const first: CheckpointedBatch = {
      partition: { name: "o'dd", runId: 'r\\1', partition: 0 },
      guard: { pass: 2, batches: '0', lastKey: null },
      range: { shape: { lower: 0, upper: 1 }, values: ['7'] },
      size: 50,
      syncWhenDone: false,
    };
    expect(buildCheckpointedSetBatch(odd, sqlOf, first).split('\n')).toEqual([
      'WITH ferry_checkpoint AS MATERIALIZED (SELECT c.pass, c.last_key, c.batches, c.done, c.stop_requested,',
      ' c.pass = 2 AND c.batches = 0::bigint AND c.last_key IS NOT DISTINCT FROM NULL::text[] AND NOT c.done AND NOT c.stop_requested AS go',
      " FROM ferry.backfill_checkpoints c WHERE c.migration = 'o''dd' AND c.run_id =  E'r\\\\1' AND c.partition = 0),",
      'ferry_batch AS MATERIALIZED (SELECT "Tenant", "we""ird" FROM "Mixed Case"."Odd-Table" WHERE "Tenant" <= \'7\'::integer AND (SELECT go FROM ferry_checkpoint) ORDER BY "Tenant", "we""ird" LIMIT 50),',
      'ferry_window AS MATERIALIZED (SELECT (SELECT count(*) FROM ferry_batch)::int AS scanned, (SELECT ARRAY["Tenant"::text, "we""ird"::text] FROM ferry_batch ORDER BY "Tenant" DESC, "we""ird" DESC LIMIT 1) AS last_key),',
      'ferry_updated AS (UPDATE "Mixed Case"."Odd-Table" SET data = raw::jsonb',
      ' WHERE ("Tenant", "we""ird") IN (SELECT "Tenant", "we""ird" FROM ferry_batch) AND (data IS NULL)',
      ' RETURNING 1),',
      'ferry_advanced AS (UPDATE ferry.backfill_checkpoints c SET last_key = COALESCE((SELECT last_key FROM ferry_window), c.last_key),',
      ' rows_scanned = c.rows_scanned + (SELECT scanned FROM ferry_window), rows_updated = c.rows_updated + (SELECT count(*) FROM ferry_updated),',
      ' batches = c.batches + 1, batch_size = 50, done = (SELECT scanned FROM ferry_window) < 50, updated_at = now()',
      " WHERE c.migration = 'o''dd' AND c.run_id =  E'r\\\\1' AND c.partition = 0 AND c.pass = 2 AND c.batches = 0::bigint AND (SELECT go FROM ferry_checkpoint)",
      ' RETURNING c.stop_requested)',
      'SELECT (SELECT scanned FROM ferry_window) AS scanned,',
      ' (SELECT count(*) FROM ferry_updated)::int AS updated,',
      ' (SELECT last_key FROM ferry_window) AS last_key,',
      ' EXISTS (SELECT FROM ferry_advanced) AS advanced,',
      ' (SELECT stop_requested FROM ferry_advanced) AS stop_requested,',
      ' cp.pass AS checkpoint_pass, cp.last_key AS checkpoint_last_key, cp.batches::text AS checkpoint_batches,',
      ' cp.done AS checkpoint_done, cp.stop_requested AS checkpoint_stop_requested,',
      " CASE WHEN cp.go AND NOT EXISTS (SELECT FROM ferry_advanced) THEN ferry.checkpoint_moved('o''dd',  E'r\\\\1', 0) END AS moved",
      'FROM (SELECT) AS ferry_one LEFT JOIN ferry_checkpoint cp ON true',
    ]);
  });

  it('refuses what it cannot put into SQL', () => {
    expect(() => buildCheckpointedSetBatch(posts, { where: 'true' }, batch)).toThrow(/backfill.set/);
    expect(() => buildCheckpointedSetBatch(posts, sqlOf, { ...batch, guard: { ...batch.guard, batches: '1; DROP TABLE x' } })).toThrow(
      /not a number/,
    );
    expect(() => buildCheckpointedSetBatch(posts, sqlOf, { ...batch, size: 1.5 })).toThrow(/not an integer/);
    expect(() => buildCheckpointedSetBatch(posts, sqlOf, { ...batch, range: { shape: { lower: 1, upper: 1 }, values: ['50'] } })).toThrow(
      /missing/,
    );
    expect(() => buildCheckpointedSetBatch(posts, sqlOf, { ...batch, guard: { ...batch.guard, lastKey: ['a\0b'] } })).toThrow(/NUL/);
  });
});
