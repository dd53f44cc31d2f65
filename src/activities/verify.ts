import type { RunInput, VerifyResult } from '../contract/activities';
import { countByRanges } from '../engine/range-scan';
import { verifySql } from '../sql/verify';
import { countFailedRows } from '../store/failed-rows';
import { withMigration, type ActivityDeps } from './context';
import { scanWithHeartbeat } from './scan';

/** Tuning of the verify activity. */
export interface VerifyOptions {
  /** Rows per range statement (default 50000). */
  rangeSize?: number;
}

export type { VerifyResult } from '../contract/activities';

/**
 * The verify activity.
 * @example Worker.create({ activities: { ...createVerifyActivities({ pool, migrations }) } })
 */
export function createVerifyActivities(deps: ActivityDeps, opts: VerifyOptions = {}) {
  return {
    /**
     * Counts the rows that are still wrong: those matching `verify.where` (default
     * `backfill.where`), read by key ranges — keyset, one short read-only statement per range,
     * a heartbeat `{ ranges, checkedRows, wrongRows }` after each, never one long scan. Rows the
     * backfill recorded in `ferry.failed_rows` for this run are not counted as wrong;
     * `failedRows` says how many are recorded. Read-only, so safe to run again; a retried
     * attempt starts from the first key. The workflow decides what a non-zero count means.
     */
    async verify(input: RunInput): Promise<VerifyResult> {
      return withMigration(deps, input, async ({ definition, describe }) => {
        const sql = verifySql(await describe(), definition.verify.where ?? definition.backfill.where);
        const scan = { migration: input.name, runId: input.runId, rangeSize: opts.rangeSize };
        const totals = await scanWithHeartbeat(
          (onRange) => countByRanges(deps.pool, sql, { ...scan, onRange }),
          (t) => ({ ranges: t.ranges, checkedRows: t.checkedRows, wrongRows: t.matchedRows }),
        );
        const failedRows = await countFailedRows(deps.pool, { name: input.name, runId: input.runId });
        deps.metrics?.verifyWrongRows(input.name, totals.matchedRows);
        return { wrongRows: totals.matchedRows, failedRows, checkedRows: totals.checkedRows, ranges: totals.ranges };
      });
    },
  };
}
