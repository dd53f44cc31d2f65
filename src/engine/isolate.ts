import type { Pool, PoolClient } from 'pg';
import type { RunRef } from '../contract/activities';
import { FerryError } from '../contract/errors';
import { sqlstate } from '../pg/errors';
import { literal } from '../pg/quote';
import { countFailedRows, recordFailedRow } from '../store/failed-rows';

/**
 * Bad-row isolation: a batch whose change fails on a row's data is retried by halves under
 * savepoints, down to single rows; each row that still fails is recorded in `ferry.failed_rows`
 * and skipped, while its batch-mates apply. Everything happens in the batch's transaction.
 */

/** How a batch applies its change: one statement (`set`) or the author's `process` function. */
export type Mode = 'set' | 'process';

/** The outcome of `underSavepoint`: the value, or the row-level error that was rolled back. */
export type Attempt<T> = { ok: true; value: T } | { ok: false; error: unknown };

/** Where isolation runs: the batch's transaction, its run (for failed rows), its mode and cancellation. */
export interface Isolation {
  client: PoolClient;
  run: RunRef;
  mode: Mode;
  /** Once aborted, no error counts as a row's: it propagates. */
  signal: AbortSignal;
}

/**
 * Runs `fn` under a savepoint. A row-level data error rolls back to the savepoint and comes back as
 * `{ ok: false }`; any other error propagates (and fails the batch's transaction).
 */
export async function underSavepoint<T>(iso: Isolation, fn: () => Promise<T>): Promise<Attempt<T>> {
  await iso.client.query('SAVEPOINT ferry_rows');
  try {
    const value = await fn();
    await iso.client.query('RELEASE SAVEPOINT ferry_rows');
    return { ok: true, value };
  } catch (error) {
    if (!isRowError(error, iso.mode, iso.signal)) throw error;
    await iso.client.query('ROLLBACK TO SAVEPOINT ferry_rows');
    await iso.client.query('RELEASE SAVEPOINT ferry_rows');
    return { ok: false, error };
  }
}

/**
 * Applies `items` by halves, recursing down to single items; each single failing item is recorded
 * in ferry.failed_rows and skipped. Returns rows applied and rows newly recorded as failed.
 */
export async function bisect<T>(
  iso: Isolation,
  items: T[],
  keyOf: (item: T) => string[],
  apply: (items: T[]) => Promise<number>,
): Promise<{ updated: number; failed: number }> {
  if (items.length === 0) return { updated: 0, failed: 0 };
  if (items.length === 1) {
    const attempt = await underSavepoint(iso, () => apply(items));
    if (attempt.ok) return { updated: attempt.value, failed: 0 };
    return { updated: 0, failed: await recordFailure(iso, keyOf(items[0]), attempt.error) };
  }
  const total = { updated: 0, failed: 0 };
  const mid = Math.ceil(items.length / 2);
  for (const half of [items.slice(0, mid), items.slice(mid)]) {
    const attempt = half.length > 1 ? await underSavepoint(iso, () => apply(half)) : undefined;
    const part = attempt?.ok ? { updated: attempt.value, failed: 0 } : await bisect(iso, half, keyOf, apply);
    total.updated += part.updated;
    total.failed += part.failed;
  }
  return total;
}

/** Records one failed row (in the batch's transaction); returns 1 when it is newly recorded. */
async function recordFailure(iso: Isolation, key: string[], error: unknown): Promise<number> {
  const inserted = await recordFailedRow(iso.client, iso.run, { key, sqlstate: sqlstate(error) ?? null, error: errorText(error) });
  return inserted ? 1 : 0;
}

/** The error's message, with PostgreSQL's `detail` when it has one. */
export function errorText(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const detail = (error as { detail?: unknown }).detail;
  return typeof detail === 'string' && detail !== '' ? `${error.message} (${detail})` : error.message;
}

/**
 * Whether an error belongs to the rows of the batch (isolate them) rather than to the connection,
 * locks or the definition (propagate): SQLSTATE classes 22 (data exception) and 23 (integrity
 * constraint), and anything `process` throws that is not a PostgreSQL error. Nothing is isolated
 * once the run is cancelled.
 * @example isRowError({ code: '22P02', severity: 'ERROR' }, 'set') // true
 */
export function isRowError(error: unknown, mode: Mode, signal?: AbortSignal): boolean {
  if (signal?.aborted) return false;
  const code = sqlstate(error);
  if (code !== undefined) return code.startsWith('22') || code.startsWith('23');
  return mode === 'process';
}

/**
 * Fails the chunk for good once the run's failed rows exceed `maxFailedRows`.
 * @throws FerryError TOO_MANY_FAILED_ROWS, with the query that lists them.
 */
export async function checkFailedRows(pool: Pool, run: RunRef, maxFailedRows: number): Promise<void> {
  const count = await countFailedRows(pool, run);
  if (count <= maxFailedRows) return;
  throw new FerryError(
    'TOO_MANY_FAILED_ROWS',
    `migration "${run.name}" has ${count} failed rows, more than backfill.maxFailedRows (${maxFailedRows}); ` +
      `see them with SELECT * FROM ferry.failed_rows WHERE migration = ${literal(run.name)} AND run_id = ${literal(run.runId)}, ` +
      'fix the data or the migration, then abort and start it again (or raise maxFailedRows).',
  );
}
