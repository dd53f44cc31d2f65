import type { PoolClient } from 'pg';
import type { RunRef } from '../contract/activities';
import type { MigrationDefinition } from '../definition/define';
import type { TableInfo } from '../pg/catalog';
import { buildWindow } from '../sql/backfill';
import { nextRange, type Cursor } from './cursor';
import type { Isolation, Mode } from './isolate';
import type { RateLimit } from './rate-limiter';

/**
 * What applying one batch's change works with, inside the batch's transaction: set mode
 * (`set-mode.ts`) and process mode (`process-mode.ts`) both take it.
 */
export interface BatchTx {
  /** The batch's transaction. */
  client: PoolClient;
  table: TableInfo;
  /** The author's `where` and `set` or `process`. */
  backfill: MigrationDefinition['backfill'];
  /** Names the run whose failed rows are recorded. */
  run: RunRef;
  /** Aborted on cancellation: handed to `process`, and it ends bad-row isolation. */
  signal: AbortSignal;
  /**
   * Set mode: apply under a savepoint, isolating bad rows. Without it a set-mode transaction runs
   * its statements bare (two round trips fewer) and a row's data error aborts it; it then runs
   * again with `isolate` (see `runTransaction`).
   */
  isolate?: boolean;
}

/** What applying a batch's change yields before the checkpoint moves. */
export interface BatchWork {
  scanned: number;
  updated: number;
  /** Rows newly recorded in ferry.failed_rows. */
  failed: number;
  /** The last key of the batch's window; null when the range is exhausted. */
  lastKey: string[] | null;
}

/** The isolation settings of a batch in `mode`. */
export function isolation(tx: BatchTx, mode: Mode): Isolation {
  return { client: tx.client, run: tx.run, mode, signal: tx.signal };
}

/** The next window of `size` keys after the cursor, without changing anything. */
export async function readWindow(tx: BatchTx, cursor: Cursor, size: number): Promise<{ scanned: number; lastKey: string[] | null }> {
  const range = nextRange(cursor);
  const stmt = buildWindow(tx.table, range.shape);
  const r = (await tx.client.query(stmt.text, [...range.values, size])).rows[0];
  return { scanned: r.scanned as number, lastKey: r.last_key as string[] | null };
}

/** The per-batch extras of process mode: the worker's log and the migration's rate limit. */
export interface ProcessTools {
  log: (message: string, fields?: Record<string, unknown>) => void;
  rateLimit: RateLimit;
}
