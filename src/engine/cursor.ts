import type { Pool } from 'pg';
import { FerryError } from '../contract/errors';
import type { RangeShape } from '../sql/backfill';
import { startChunk, type PartitionRef } from '../store/checkpoints';

/**
 * A partition's cursor: where its checkpoint stood when this chunk last read (or wrote) it, and
 * the key ranges of the next batch derived from it.
 */
export interface Cursor {
  pass: number;
  lower: string[] | null;
  upper: string[] | null;
  last: string[] | null;
  /** The checkpoint's batch counter: any other writer moves it, so it tells a zombie apart. */
  batches: string;
  done: boolean;
  /** The size of the partition's last batch as the checkpoint recorded it, if any. */
  batchSize?: number;
}

/** A key range as `sql/backfill` builders take it: its shape and the bound values in order. */
export interface KeyRange {
  shape: RangeShape;
  values: string[];
}

/**
 * Clears the partition's stop flag and reads its cursor.
 * @throws FerryError NOT_FOUND when the partition has no checkpoint (initBackfill did not run).
 */
export async function openCursor(pool: Pool, ref: PartitionRef): Promise<Cursor> {
  const r = await startChunk(pool, ref);
  if (r === undefined) {
    throw new FerryError(
      'NOT_FOUND',
      `backfill partition ${ref.partition} of migration "${ref.name}" (run "${ref.runId}") has no checkpoint; run initBackfill first.`,
    );
  }
  const cursor: Cursor = { pass: r.pass, lower: r.lower_key, upper: r.upper_key, last: r.last_key, batches: r.batches, done: r.done };
  return r.batch_size !== null && r.batch_size > 0 ? { ...cursor, batchSize: r.batch_size } : cursor;
}

/** The cursor after a committed batch of `size` that scanned `scanned` rows up to `lastKey`. */
export function advanceCursor(cursor: Cursor, work: { scanned: number; lastKey: string[] | null }, size: number): void {
  cursor.last = work.lastKey ?? cursor.last;
  cursor.batches = (BigInt(cursor.batches) + 1n).toString();
  cursor.done = work.scanned < size;
}

/** The bounds of the next window: after the cursor (or the partition's lower bound), up to its upper bound. */
export function nextRange(cursor: Cursor): KeyRange {
  const lower = cursor.last ?? cursor.lower ?? [];
  const upper = cursor.upper ?? [];
  return { shape: { lower: lower.length, upper: upper.length }, values: [...lower, ...upper] };
}

/** The range from the cursor up to and including `lastKey` (a whole key). */
export function rangeUpTo(cursor: Cursor, lastKey: string[]): KeyRange {
  const lower = cursor.last ?? cursor.lower ?? [];
  return { shape: { lower: lower.length, upper: lastKey.length }, values: [...lower, ...lastKey] };
}

/**
 * Null-safe equality of two keys as text.
 * @example sameKey(['1', 'a'], ['1', 'a']) // true
 */
export function sameKey(a: string[] | null, b: string[] | null): boolean {
  if (a === null || b === null) return a === b;
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
