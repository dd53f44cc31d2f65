import { buildApplyKeys, buildSelectKeys, buildSetBatch } from '../sql/backfill';
import { isolation, readWindow, type BatchTx, type BatchWork } from './apply';
import { nextRange, rangeUpTo, type Cursor } from './cursor';
import { bisect, underSavepoint } from './isolate';

/**
 * Set mode: the batch changes its rows with the author's `set` in SQL statements, never reading
 * the rows into the worker.
 */

/**
 * Rows per statement of a set-mode batch. A batch (one transaction, one checkpoint) of more rows
 * runs as several statements in a row: PostgreSQL's cost per row of the batch statement rises
 * by about 8% past ~10,000 rows, while a transaction of several smaller statements costs what
 * small batches do (`npx tsx scripts/bench/statement-size.ts`).
 */
export const SET_STATEMENT_ROWS = 5000;

/**
 * The batch in statements of at most `SET_STATEMENT_ROWS` rows. Bare unless `tx.isolate` (a data
 * error then aborts the transaction, which runs again isolating); isolating, under one savepoint,
 * and on a data error the whole batch again row set by row set to isolate the bad rows.
 */
export async function setBatch(tx: BatchTx, cursor: Cursor, size: number): Promise<BatchWork> {
  if (tx.isolate !== true) return setStatements(tx, cursor, size);
  const attempt = await underSavepoint(isolation(tx, 'set'), () => setStatements(tx, cursor, size));
  return attempt.ok ? attempt.value : isolateSetBatch(tx, cursor, size);
}

/** Runs the batch's statements from the cursor until `size` rows are scanned or the range ends. */
async function setStatements(tx: BatchTx, cursor: Cursor, size: number): Promise<BatchWork> {
  const work: BatchWork = { scanned: 0, updated: 0, failed: 0, lastKey: null };
  while (work.scanned < size) {
    const step = Math.min(SET_STATEMENT_ROWS, size - work.scanned);
    const range = nextRange(work.lastKey === null ? cursor : { ...cursor, last: work.lastKey });
    const stmt = buildSetBatch(tx.table, tx.backfill, range.shape);
    const r = (await tx.client.query(stmt.text, [...range.values, step])).rows[0];
    work.scanned += r.scanned;
    work.updated += r.updated;
    work.lastKey = r.last_key ?? work.lastKey;
    if (r.scanned < step) break;
  }
  return work;
}

/** The batch's window again, its matching keys applied by halves down to the bad rows. */
async function isolateSetBatch(tx: BatchTx, cursor: Cursor, size: number): Promise<BatchWork> {
  const window = await readWindow(tx, cursor, size);
  if (window.lastKey === null) return { ...window, updated: 0, failed: 0 };
  const range = rangeUpTo(cursor, window.lastKey);
  const select = buildSelectKeys(tx.table, tx.backfill, range.shape);
  const keys: string[][] = (await tx.client.query(select.text, range.values)).rows.map((r) => r.key);
  const apply = buildApplyKeys(tx.table, tx.backfill);
  const applyKeys = async (part: string[][]) =>
    (
      await tx.client.query(
        apply.text,
        tx.table.key.map((_c, i) => part.map((k) => k[i])),
      )
    ).rows[0].updated as number;
  const result = await bisect(isolation(tx, 'set'), keys, (k) => k, applyKeys);
  return { ...window, ...result };
}
