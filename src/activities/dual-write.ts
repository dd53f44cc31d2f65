import { cancellationSignal, cancelled, heartbeat } from '@temporalio/activity';
import { describeTable } from '../pg/catalog';
import type { MigrationDefinition } from '../definition/define';
import { FerryError } from '../contract/errors';
import type { DdlOptions, DdlResult } from '../pg/ddl';
import { dropTrigger, installTrigger, keyIncreases, maxKeySql, probeSql } from '../sql/dual-write';
import { readMark, recordMark, type DeployMark } from '../store/deploy-marks';
import { parseTableName, quoteTable } from '../pg/quote';
import { countByRanges, type RangeTotals } from '../engine/range-scan';
import { getMigration, toFailure, type ActivityDeps } from './context';
import type { MigrationRef, ProbeInput, ProbeResult, RunInput } from '../contract/activities';

/** Tuning of the dual-write activities; the defaults suit production. */
export interface DualWriteOptions {
  /** Options of the trigger's DDL (lock timeout, attempts). */
  ddl?: DdlOptions;
  /** Rows per probe statement (default 50000). */
  rangeSize?: number;
}

export type { ProbeInput } from '../contract/activities';

/**
 * The dual-write activities: ferry's trigger (installed by `expand`, dropped by `contract` and
 * `rollback`), the deploy mark, and the probe that checks the application really writes the new
 * shape.
 * @example Worker.create({ activities: { ...createDualWriteActivities({ pool, migrations }) } })
 */
export function createDualWriteActivities(deps: ActivityDeps, opts: DualWriteOptions = {}) {
  const ddl = (): DdlOptions => ({ log: deps.log, onRetry: (r) => heartbeat(r), ...opts.ddl });
  return {
    /**
     * Installs ferry's `BEFORE INSERT OR UPDATE` trigger when the migration dual-writes by
     * trigger; does nothing otherwise. Safe to run again.
     */
    async installDualWriteTrigger(ref: MigrationRef): Promise<DdlResult> {
      return asActivity(async () => {
        const def = getMigration(deps, ref).definition;
        if (def.dualWrite.by !== 'trigger') return { statements: 0, retries: 0 };
        const table = quotedTable(def);
        return installTrigger(deps.pool, { migration: ref.name, table, body: def.dualWrite.body }, ddl());
      });
    },

    /** Drops ferry's trigger and its function if they exist, whatever `dualWrite` says. Safe to run again. */
    async dropDualWriteTrigger(ref: MigrationRef): Promise<DdlResult> {
      return asActivity(async () => {
        const def = getMigration(deps, ref).definition;
        return dropTrigger(deps.pool, { migration: ref.name, table: quotedTable(def) }, ddl());
      });
    },

    /**
     * Records the mark of the deploy signal in `ferry.deploy_marks`: a new transaction id
     * (`pg_current_xact_id()`, 64-bit, as text) and the table's largest key at that moment. Rows
     * with a larger key whose `xmin` lies after the mark were inserted after the application was
     * declared deployed. The key stays in PostgreSQL: only the transaction id goes to Temporal.
     */
    async markDeploy(input: RunInput): Promise<{ xidMark: string }> {
      return asActivity(async () => {
        const def = getMigration(deps, input).definition;
        const info = await describeTable(deps.pool, def.table, def.key);
        const mark = await recordMark(deps.pool, maxKeySql(info), { migration: input.name, runId: input.runId });
        return { xidMark: mark.xid_mark };
      });
    },
    /**
     * Checks that the deployed application writes the new shape: counts rows INSERTED after the
     * deploy mark that still match `backfill.where`, i.e. rows the application created after the
     * "deployed" signal in the old shape only. Inserted after the mark means: a key above the
     * largest key at the mark, and an `xmin` (the transaction that wrote the row version) after
     * the mark, compared modulo 2^32 so wraparound is harmless. Updates of older rows do not
     * count: dual-writing code may change other columns of a row the backfill has not reached.
     * Rows recorded in `ferry.failed_rows` for this run are excluded.
     *
     * Only keys that grow (integers, numerics, timestamps) tell inserts apart; for other keys the
     * probe is skipped and says so. The rows above the mark are read by key ranges (`rangeSize`
     * rows per short read-only statement), heartbeating counts only, never row data.
     */
    async probeDualWrite(input: ProbeInput): Promise<ProbeResult> {
      return asActivity(async () => {
        const def = getMigration(deps, input).definition;
        const info = await describeTable(deps.pool, def.table, def.key);
        const mark = await markOf(deps, input);
        if (!keyIncreases(info)) return { badRows: 0, checkedRows: 0, skipped: true };
        const totals = await scanWithHeartbeat(
          (onRange) =>
            countByRanges(deps.pool, probeSql(info, def.backfill.where), {
              migration: input.name,
              runId: input.runId,
              extra: [mark.xid_mark],
              startAfter: mark.max_key,
              rangeSize: opts.rangeSize,
              onRange,
            }),
          (t) => ({ ranges: t.ranges, checkedRows: t.checkedRows, badRows: t.matchedRows }),
        );
        return { badRows: totals.matchedRows, checkedRows: totals.checkedRows, skipped: false };
      });
    },
  };
}

/**
 * `"schema"."name"` of the migration's table, without touching the catalog (the table may be
 * gone after contract).
 * @throws FerryError INVALID_DEFINITION when `table` is not a table name.
 */
export function quotedTable(def: MigrationDefinition): string {
  try {
    return quoteTable(parseTableName(def.table));
  } catch (err) {
    throw new FerryError('INVALID_DEFINITION', `${(err as Error).message} Fix "table" in the migration.`);
  }
}

/**
 * Runs a range scan, heartbeating `details(totals)` after each range and every 5 s while a
 * statement runs, and stopping between ranges when the activity is cancelled.
 * @example await scanWithHeartbeat((onRange) => countByRanges(pool, sql, { ...opts, onRange }), (t) => t)
 */
export async function scanWithHeartbeat(
  scan: (onRange: (t: RangeTotals) => Promise<void>) => Promise<RangeTotals>,
  details: (t: RangeTotals) => Record<string, number>,
): Promise<RangeTotals> {
  let last: RangeTotals = { checkedRows: 0, matchedRows: 0, ranges: 0 };
  heartbeat(details(last));
  const timer = setInterval(() => heartbeat(details(last)), 5000);
  try {
    return await scan(async (t) => {
      last = t;
      heartbeat(details(t));
      if (cancellationSignal().aborted) await cancelled();
    });
  } finally {
    clearInterval(timer);
  }
}

/**
 * Runs an activity body, turning FerryErrors into Temporal failures of the right kind.
 * @example return asActivity(async () => ({ ok: true }))
 */
export async function asActivity<T>(body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (err) {
    throw toFailure(err);
  }
}

/** The deploy mark of a run; a probe without one is a bug in the caller. */
async function markOf(deps: ActivityDeps, input: ProbeInput): Promise<DeployMark> {
  const mark = await readMark(deps.pool, { migration: input.name, runId: input.runId });
  if (!mark) {
    throw new FerryError('BAD_INPUT', `migration "${input.name}" has no deploy mark; markDeploy runs before the probe.`);
  }
  return mark;
}
