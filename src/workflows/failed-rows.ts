/**
 * The failed-rows gate before the contract: recorded failed rows are re-run (fixed ones leave the
 * list) after the cool-off, when `approve` arrives, on `ferry retry-failed`, and before the
 * contract; while any still fail, the contract waits for a person: fix them, or approve with
 * `acceptFailedRows` (`ferry approve --accept-failed-rows`). Only counts cross into Temporal.
 */
import { condition, workflowInfo } from '@temporalio/workflow';
import type { FailedRowsCheck, MigrationInput, MigrationState } from '../contract/migration';
import { failedRowsQuery } from '../contract/progress';
import type { Activities } from './activities';
import { audit } from './state';
import { publish } from './ui';

/** The patch that puts the gate in the phases; histories recorded before it replay without it. */
export const FAILED_ROWS_GATE = 'failed-rows-gate';

/** Re-runs the failed rows, one re-run at a time (the main loop and `retryFailed` may both ask). */
export type RecheckFailedRows = (by: string, identity?: string) => Promise<FailedRowsCheck>;

/** The re-run of a migration, bound to its state: it records the result and the audit line. */
export function failedRowsRecheck(input: MigrationInput, state: MigrationState, acts: Activities): RecheckFailedRows {
  let running = false;
  return async (by, identity) => {
    await condition(() => !running);
    running = true;
    try {
      const runId = workflowInfo().firstExecutionRunId;
      const r = await acts.scan.retryFailedRows({ name: input.name, specHash: input.specHash, runId });
      const check: FailedRowsCheck = {
        remaining: r.remaining,
        fixed: r.fixed,
        at: new Date().toISOString(),
        query: failedRowsQuery(input.name, runId),
      };
      state.failedRows = check;
      state.backfill.rowsFailed = r.remaining;
      if (state.verify) state.verify.failedRows = r.remaining;
      if (r.remaining === 0 && state.lastError?.startsWith(LAST_ERROR_PREFIX)) state.lastError = undefined;
      audit(
        state,
        { action: 'retried failed rows', by, ...(identity ? { identity } : {}), detail: `${r.fixed} fixed, ${r.remaining} remain` },
        new Date(),
      );
      publish(input, state);
      return check;
    } finally {
      running = false;
    }
  };
}

const LAST_ERROR_PREFIX = 'failed rows:';

/** Failed rows the migration knows of: the last re-run's count, else verify's, else the backfill's. */
export function knownFailedRows(state: MigrationState): number {
  return state.failedRows?.remaining ?? state.verify?.failedRows ?? state.backfill.rowsFailed;
}

/** Rows still failing that no approval accepted: the contract must wait while this is above 0. */
export function unacceptedFailedRows(state: MigrationState, remaining: number): number {
  const accepted = state.approved?.acceptedFailedRows ?? 0;
  return remaining > accepted ? remaining : 0;
}

/** What the migration waits for while failed rows block its contract. */
export function failedRowsWaiting(input: MigrationInput, check: FailedRowsCheck): string {
  return (
    `approval: ${check.remaining} recorded failed rows still fail (${check.query}); fix them and run ` +
    `"ferry retry-failed ${input.name}", then "ferry approve ${input.name}"; or "ferry approve ${input.name} --accept-failed-rows" to contract without them`
  );
}

/**
 * Withdraws an approval that came while rows still fail, and says why: the migration waits for
 * the rows to be fixed or for an approval that accepts them.
 */
export function holdForFailedRows(input: MigrationInput, state: MigrationState, check: FailedRowsCheck): void {
  if (state.approved) {
    audit(
      state,
      { action: 'approval held', by: 'ferry', detail: `${check.remaining} failed rows remain (approved by ${state.approved.by})` },
      new Date(),
    );
  }
  state.approved = undefined;
  state.lastError =
    `${LAST_ERROR_PREFIX} ${check.remaining} rows of ${input.table} still fail and would never be migrated; list them with ${check.query}; ` +
    `fix them and run "ferry retry-failed ${input.name}", or "ferry approve ${input.name} --accept-failed-rows" to contract without them`;
  state.waitingFor = failedRowsWaiting(input, check);
}
