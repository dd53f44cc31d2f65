import type { TableInfo } from '../pg/catalog';
import { inlineBigint, inlineInteger, inlineLiteral, inlineTextArray } from '../pg/quote';
import type { PartitionRef } from '../store/checkpoints';
import { STORE_SCHEMA } from '../store/schema';
import { keyColumns, keyTuple, lastKeyOf, literalWindowSelect, type BackfillSql, type RangeShape } from './backfill';

/**
 * Set mode's batch transaction as one statement, so that the whole transaction goes to PostgreSQL
 * in one round trip (src/engine/set-transaction.ts): the partition's checkpoint as the statement
 * finds it (its guard), the batch's rows, and the checkpoint's advance. A pure function, golden-
 * tested in `test/sql/checkpointed-batch.test.ts`; the transaction runs it after the partition's
 * lock (`LOCK_PARTITION`), so its snapshot sees every batch committed before the lock was granted.
 *
 * - `ferry_checkpoint` reads the checkpoint and says whether the batch may `go`: the checkpoint is
 *   where this chunk left it (pass, batch count, last key), not done, no stop requested. When it
 *   may not, the window is empty (its gate is false), nothing is changed or advanced, and the
 *   checkpoint's columns tell the caller why (superseded, done, stop requested).
 * - `ferry_batch` / `ferry_updated`: the window of keys and the author's `set` on its rows that
 *   match `where`, as `buildSetBatch` does.
 * - `ferry_advanced`: the guarded advance (pass and batch count as found). It sees a change
 *   committed since the snapshot (READ COMMITTED re-checks an updated row): a stop requested
 *   meanwhile comes back as `stop_requested`; a new pass started meanwhile leaves it no row, and
 *   then `ferry.checkpoint_moved` (store file 0005) raises ZF001 (`CHECKPOINT_MOVED`), which aborts
 *   the transaction with the rows it changed — the COMMIT sent after it does not run.
 *
 * No value is a `$n` parameter (the simple protocol takes none): key bounds, names and numbers are
 * literals (`inlineLiteral`, `inlineInteger`). The author's `where` and `set` go in as they are, as
 * in every other batch statement.
 */

/** Where the chunk left the partition's checkpoint: what the statement's guard compares. */
export interface CheckpointGuard {
  pass: number;
  /** The checkpoint's batch count (`bigint` as text). */
  batches: string;
  lastKey: string[] | null;
}

/** What one checkpointed batch statement does. */
export interface CheckpointedBatch {
  partition: PartitionRef;
  guard: CheckpointGuard;
  /** The window's bounds (`nextRange` of the cursor). */
  range: { shape: RangeShape; values: readonly string[] };
  /** Rows of the window; a window of fewer finishes the partition (`done`). */
  size: number;
  /** Commit synchronously when the batch finishes the partition (its transactions commit with `synchronous_commit = off`). */
  syncWhenDone: boolean;
}

/** The row the statement returns. */
export interface CheckpointedBatchRow {
  scanned: number;
  updated: number;
  /** The window's last key; null when it was empty. */
  last_key: string[] | null;
  /** The checkpoint advanced (the batch ran); false when the guard stopped it. */
  advanced: boolean;
  /** A stop was requested, as the advance found the checkpoint; null when it did not advance. */
  stop_requested: boolean | null;
  /** The checkpoint as the guard found it; null when the partition has no checkpoint. */
  checkpoint_pass: number | null;
  checkpoint_last_key: string[] | null;
  checkpoint_batches: string | null;
  checkpoint_done: boolean | null;
  checkpoint_stop_requested: boolean | null;
}

/**
 * The statement.
 * @example buildCheckpointedSetBatch(posts, { where: 'member_uuid IS NULL', set: '...' }, batch)
 * // WITH ferry_checkpoint AS MATERIALIZED (SELECT c.pass, ... FROM "ferry"."backfill_checkpoints" c WHERE ...
 * @throws Error without `backfill.set`, or when the guard's batch count is not a number.
 */
export function buildCheckpointedSetBatch(table: TableInfo, sql: BackfillSql, batch: CheckpointedBatch): string {
  if (sql.set === undefined) throw new Error('buildCheckpointedSetBatch needs backfill.set');
  const scanned = '(SELECT scanned FROM ferry_window)';
  const window = literalWindowSelect(table, batch.range, batch.size, '(SELECT go FROM ferry_checkpoint)');
  const columns = [
    `${scanned} AS scanned`,
    '(SELECT count(*) FROM ferry_updated)::int AS updated',
    '(SELECT last_key FROM ferry_window) AS last_key',
    'EXISTS (SELECT FROM ferry_advanced) AS advanced',
    '(SELECT stop_requested FROM ferry_advanced) AS stop_requested',
    'cp.pass AS checkpoint_pass, cp.last_key AS checkpoint_last_key, cp.batches::text AS checkpoint_batches',
    'cp.done AS checkpoint_done, cp.stop_requested AS checkpoint_stop_requested',
    `CASE WHEN cp.go AND NOT EXISTS (SELECT FROM ferry_advanced) THEN ${STORE_SCHEMA}.checkpoint_moved(${partitionLiterals(batch.partition)}) END AS moved`,
  ];
  if (batch.syncWhenDone) {
    columns.push(
      `CASE WHEN cp.go AND ${scanned} < ${inlineInteger(batch.size)} THEN set_config('synchronous_commit', 'on', true) END AS synchronous_commit`,
    );
  }
  return (
    `WITH ${checkpointCte(batch)},\n` +
    `ferry_batch AS MATERIALIZED (${window}),\n` +
    `ferry_window AS MATERIALIZED (SELECT (SELECT count(*) FROM ferry_batch)::int AS scanned, ${lastKeyOf(table, 'ferry_batch')} AS last_key),\n` +
    `ferry_updated AS (UPDATE ${table.quoted} SET ${sql.set}\n` +
    ` WHERE ${keyTuple(table)} IN (SELECT ${keyColumns(table)} FROM ferry_batch) AND (${sql.where})\n` +
    ` RETURNING 1),\n` +
    `${advanceCte(batch, scanned)}\n` +
    `SELECT ${columns.join(',\n ')}\n` +
    `FROM (SELECT) AS ferry_one LEFT JOIN ferry_checkpoint cp ON true`
  );
}

/** `ferry_checkpoint`: the partition's checkpoint as the statement's snapshot sees it, and whether the batch may go. */
function checkpointCte(batch: CheckpointedBatch): string {
  const { guard } = batch;
  const go =
    `c.pass = ${inlineInteger(guard.pass)} AND c.batches = ${inlineBigint(guard.batches)}::bigint` +
    ` AND c.last_key IS NOT DISTINCT FROM ${inlineTextArray(guard.lastKey)}::text[] AND NOT c.done AND NOT c.stop_requested`;
  return (
    `ferry_checkpoint AS MATERIALIZED (SELECT c.pass, c.last_key, c.batches, c.done, c.stop_requested,\n` +
    ` ${go} AS go\n` +
    ` FROM ${STORE_SCHEMA}.backfill_checkpoints c WHERE ${partitionMatch(batch.partition)})`
  );
}

/** `ferry_advanced`: records the batch on the checkpoint while it is still at the guard's pass and batch count. */
function advanceCte(batch: CheckpointedBatch, scanned: string): string {
  const { guard } = batch;
  const size = inlineInteger(batch.size);
  return (
    `ferry_advanced AS (UPDATE ${STORE_SCHEMA}.backfill_checkpoints c SET last_key = COALESCE((SELECT last_key FROM ferry_window), c.last_key),\n` +
    ` rows_scanned = c.rows_scanned + ${scanned}, rows_updated = c.rows_updated + (SELECT count(*) FROM ferry_updated),\n` +
    ` batches = c.batches + 1, batch_size = ${size}, done = ${scanned} < ${size}, updated_at = now()\n` +
    ` WHERE ${partitionMatch(batch.partition)} AND c.pass = ${inlineInteger(guard.pass)} AND c.batches = ${inlineBigint(guard.batches)}::bigint` +
    ` AND (SELECT go FROM ferry_checkpoint)\n` +
    ` RETURNING c.stop_requested)`
  );
}

function partitionMatch(ref: PartitionRef): string {
  return `c.migration = ${inlineLiteral(ref.name)} AND c.run_id = ${inlineLiteral(ref.runId)} AND c.partition = ${inlineInteger(ref.partition)}`;
}

function partitionLiterals(ref: PartitionRef): string {
  return `${inlineLiteral(ref.name)}, ${inlineLiteral(ref.runId)}, ${inlineInteger(ref.partition)}`;
}
