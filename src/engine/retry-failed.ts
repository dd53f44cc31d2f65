import type { Pool } from 'pg';
import type { RetryFailedResult, RunRef } from '../contract/activities';
import { FerryError } from '../contract/errors';
import type { LoadedMigration } from '../definition/registry';
import { describeTable, type TableInfo } from '../pg/catalog';
import { isDefinitionError, sqlstate } from '../pg/errors';
import { withTransaction } from '../pg/transaction';
import { buildApplyKeys, buildSelectRowsByKeys } from '../sql/backfill';
import { deleteFailedRow, listFailedKeys, recordFailedRow } from '../store/failed-rows';
import type { BatchTx, ProcessTools } from './apply';
import { errorText, underSavepoint, type Isolation } from './isolate';
import { processContext, splitRowKey } from './process-mode';
import { backfillTuning } from './tuning';

/**
 * Re-runs a run's recorded failed rows (`ferry.failed_rows`): the batch change (`set`, or
 * `process`) applied to exactly those keys, one row per short transaction, under a savepoint and
 * the batch's `lock_timeout`/`statement_timeout`. A row that now succeeds, or no longer matches
 * `backfill.where` (fixed by hand, deleted), leaves the list in the same transaction as its
 * change; a row that still fails stays, with its new error. Counts only come back.
 */

/** Keys read from ferry.failed_rows at a time. */
const PAGE = 100;

/** What a re-run works with besides the pool: cancellation, a heartbeat per row, the process-mode tools. */
export interface RetryPort extends ProcessTools {
  signal: AbortSignal;
  heartbeat: (progress: RetryFailedResult) => void;
}

/**
 * Re-runs every recorded failed row of `run`; returns how many were re-run, fixed and still fail.
 * @throws FerryError INVALID_DEFINITION when PostgreSQL rejects the author's SQL (class 42).
 * @example const { remaining } = await retryFailedRows(pool, migration, { name, runId }, port)
 */
export async function retryFailedRows(pool: Pool, migration: LoadedMigration, run: RunRef, port: RetryPort): Promise<RetryFailedResult> {
  const { definition } = migration;
  const table = await describeTable(pool, definition.table, definition.key);
  const tuning = backfillTuning(definition.backfill);
  const settings = { lock_timeout: `${Math.ceil(tuning.lockTimeoutMs)}ms`, statement_timeout: `${Math.ceil(tuning.statementTimeoutMs)}ms` };
  const result: RetryFailedResult = { retried: 0, fixed: 0, remaining: 0 };
  port.heartbeat(result);
  for (let after: string[] | null = null; ;) {
    const keys = await listFailedKeys(pool, run, after, PAGE);
    if (keys.length === 0) return result;
    for (const key of keys) {
      if (port.signal.aborted) throw port.signal.reason ?? new Error('cancelled');
      const fixed = await withTransaction(
        pool,
        (client) => retryRow({ client, table, backfill: definition.backfill, run, signal: port.signal }, port, key),
        {
          settings,
        },
      ).catch((err) => {
        throw definitionError(run, table, err) ?? err;
      });
      result.retried += 1;
      result[fixed ? 'fixed' : 'remaining'] += 1;
      port.heartbeat(result);
    }
    after = keys[keys.length - 1];
  }
}

/** One recorded row in its own transaction: true when it now applies (or no longer needs to). */
async function retryRow(tx: BatchTx, tools: ProcessTools, key: string[]): Promise<boolean> {
  const mode = tx.backfill.process ? 'process' : 'set';
  const iso: Isolation = { client: tx.client, run: tx.run, mode, signal: tx.signal };
  const attempt = await underSavepoint(iso, () => (mode === 'set' ? applySet(tx, key) : applyProcess(tx, tools, key)));
  if (attempt.ok) return deleteFailedRow(tx.client, tx.run, key).then(() => true);
  await recordFailedRow(tx.client, tx.run, { key, sqlstate: sqlstate(attempt.error) ?? null, error: errorText(attempt.error) });
  return false;
}

/** `set` on the row, if it still matches `where` (0 rows: nothing left to do). */
async function applySet(tx: BatchTx, key: string[]): Promise<void> {
  const apply = buildApplyKeys(tx.table, tx.backfill);
  await tx.client.query(apply.text, columnWise(tx.table, key));
}

/** `process` on the row, if it still matches `where`. */
async function applyProcess(tx: BatchTx, tools: ProcessTools, key: string[]): Promise<void> {
  const select = buildSelectRowsByKeys(tx.table, tx.backfill);
  const rows = (await tx.client.query(select.text, columnWise(tx.table, key))).rows.map(splitRowKey);
  if (rows.length === 0) return;
  await tx.backfill.process!(
    rows.map((r) => r.row),
    processContext(tx, tools),
  );
}

/** One `text[]` per key column, as `buildApplyKeys` takes them. */
function columnWise(table: TableInfo, key: string[]): string[][] {
  return table.key.map((_c, i) => [key[i]]);
}

function definitionError(run: RunRef, table: TableInfo, error: unknown): FerryError | undefined {
  if (!isDefinitionError(error)) return undefined;
  return new FerryError(
    'INVALID_DEFINITION',
    `re-running the failed rows of migration "${run.name}" on table ${table.quoted} failed: ${(error as Error).message} ` +
      `(SQLSTATE ${sqlstate(error)}); fix backfill.where/set, then abort the migration and start it again.`,
  );
}
