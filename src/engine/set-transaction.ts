import { transactionInOneTrip } from '../pg/transaction';
import { buildCheckpointedSetBatch, type CheckpointedBatchRow } from '../sql/checkpointed-batch';
import { COUNT_BLOCKED, lockAndSettingsStatements, type BatchSettings, type CheckpointState } from '../store/checkpoints';
import type { BatchWork } from './apply';
import type { Chunk } from './chunk-setup';
import { nextRange, type Cursor } from './cursor';
import { SET_STATEMENT_ROWS } from './set-mode';

/**
 * A set-mode batch transaction in one round trip: `BEGIN`, the partition's lock, the transaction's
 * settings, the batch as one statement that also checks and advances the checkpoint
 * (src/sql/checkpointed-batch.ts), the count of sessions it blocks when asked, `COMMIT` — one
 * simple query. The three-round-trip path (src/engine/batch.ts) stays for process mode, for a
 * transaction that isolates bad rows and for one of more rows than a statement takes.
 *
 * Why: at the transaction sizes that spare the application (about a millisecond of row locks,
 * docs/benchmarks.md "Why (d) misses"), the round trips and their waits were most of a
 * transaction's time; a statement of 50 rows with its checkpoint in one round trip moved a third of
 * the 2,000-row hand loop's rows/s while the application's p99 stayed near its baseline.
 */

/** Whether a transaction of `size` rows can go in one round trip. */
export function fitsOneTrip(chunk: Chunk, size: number, isolate: boolean): boolean {
  return !isolate && chunk.migration.definition.backfill.process === undefined && size <= SET_STATEMENT_ROWS;
}

/** What the transaction did: its work, or the checkpoint as it found it when the guard stopped it. */
export type OneTripResult =
  { ran: true; work: BatchWork; stopRequested: boolean; blocked: number } | { ran: false; checkpoint: CheckpointState | undefined };

/**
 * Runs one transaction of `size` rows from `cursor`. Does not move the cursor.
 * @throws the statement's error, the transaction rolled back: `CHECKPOINT_MOVED` when a new pass
 *   moved the checkpoint while it ran, a data error on a bad row, class 42 on bad author SQL.
 */
export async function runSetTransaction(
  chunk: Chunk,
  cursor: Cursor,
  tx: { size: number; countBlocked: boolean; settings: BatchSettings },
): Promise<OneTripResult> {
  const { backfill } = chunk.migration.definition;
  const batch = buildCheckpointedSetBatch(chunk.table, backfill, {
    partition: chunk.input,
    guard: { pass: cursor.pass, batches: cursor.batches, lastKey: cursor.last },
    range: nextRange(cursor),
    size: tx.size,
    syncWhenDone: tx.settings.synchronousCommit === 'off',
  });
  const statements = [...lockAndSettingsStatements(chunk.input, tx.settings), batch];
  if (tx.countBlocked) statements.push(COUNT_BLOCKED);
  const results = await transactionInOneTrip(chunk.pool, statements);
  const row = results[2].rows[0] as CheckpointedBatchRow;
  if (!row.advanced) return { ran: false, checkpoint: checkpointOf(row) };
  const work: BatchWork = { scanned: row.scanned, updated: row.updated, failed: 0, lastKey: row.last_key };
  const blocked = tx.countBlocked ? Number(results[3].rows[0].blocked) : 0;
  return { ran: true, work, stopRequested: row.stop_requested === true, blocked };
}

/** The checkpoint as the statement's guard found it; undefined when the partition has none. */
function checkpointOf(row: CheckpointedBatchRow): CheckpointState | undefined {
  if (row.checkpoint_pass === null) return undefined;
  return {
    pass: row.checkpoint_pass,
    last_key: row.checkpoint_last_key,
    batches: row.checkpoint_batches ?? '',
    done: row.checkpoint_done === true,
    stop_requested: row.checkpoint_stop_requested === true,
  };
}
