import type { ProcessContext, Row } from '../definition/define';
import { buildSelectRows, ROW_KEY_COLUMN } from '../sql/backfill';
import { isolation, readWindow, type BatchTx, type BatchWork, type ProcessTools } from './apply';
import { rangeUpTo, type Cursor } from './cursor';
import { bisect, underSavepoint } from './isolate';

/**
 * Process mode: the window's rows that match `where` are read (locked `FOR NO KEY UPDATE`) and
 * handed to the author's `process` in the batch's transaction, whose writes commit with the
 * checkpoint.
 */

interface KeyedRow {
  key: string[];
  row: Row;
}

/** The window's rows that match `where`, handed to `process` in the batch's transaction. */
export async function processBatch(tx: BatchTx, tools: ProcessTools, cursor: Cursor, size: number): Promise<BatchWork> {
  const window = await readWindow(tx, cursor, size);
  if (window.lastKey === null) return { ...window, updated: 0, failed: 0 };
  const range = rangeUpTo(cursor, window.lastKey);
  const select = buildSelectRows(tx.table, tx.backfill, range.shape);
  const rows = (await tx.client.query(select.text, range.values)).rows.map(splitRowKey);
  const ctx = processContext(tx, tools);
  const process = tx.backfill.process!;
  const run = async (part: KeyedRow[]) => {
    await process(
      part.map((r) => r.row),
      ctx,
    );
    return part.length;
  };
  if (rows.length === 0) return { ...window, updated: 0, failed: 0 };
  const attempt = await underSavepoint(isolation(tx, 'process'), () => run(rows));
  if (attempt.ok) return { ...window, updated: attempt.value, failed: 0 };
  const result = await bisect(isolation(tx, 'process'), rows, (r) => r.key, run);
  return { ...window, ...result };
}

/** A row without ferry's key column, and that key. */
export function splitRowKey(raw: Row): KeyedRow {
  const { [ROW_KEY_COLUMN]: key, ...row } = raw;
  return { key: key as string[], row };
}

/**
 * What `process` gets: the batch's client, the log, the rate limit (cancellable), `once` and the
 * signal. Made once per batch transaction, so `once` remembers the calls that succeeded across
 * the batch's bisection (the same row objects are handed to every retry).
 */
export function processContext(tx: BatchTx, tools: ProcessTools): ProcessContext {
  const signal = tx.signal;
  const rateLimit = () => tools.rateLimit(signal);
  const done = new WeakMap<Row, unknown>();
  const once = async <T>(row: Row, call: () => Promise<T>): Promise<T> => {
    if (done.has(row)) return done.get(row) as T;
    await rateLimit();
    const result = await call();
    done.set(row, result);
    return result;
  };
  return { client: tx.client, log: tools.log, rateLimit, once, signal };
}
