import type { Pool } from 'pg';
import type { MigrationRef, ProbeInput, ProbeResult, RunInput, StatementsRun } from '../contract/activities';
import { FerryError } from '../contract/errors';
import { countByRanges } from '../engine/range-scan';
import { runDdl, type DdlOptions } from '../pg/ddl';
import { createFunctionSql, createTriggerSql, dropTriggerSql, keyIncreases, maxKeySql, probeSql } from '../sql/dual-write';
import { readMark, recordMark, type DeployMark } from '../store/deploy-marks';
import { withHeartbeat, withMigration, type ActivityDeps } from './context';
import { scanWithHeartbeat } from './scan';

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
  return {
    /**
     * Installs (or replaces) ferry's `BEFORE INSERT OR UPDATE ... FOR EACH ROW` trigger running
     * the author's body, when the migration dual-writes by trigger; does nothing otherwise. The
     * function goes in schema `ferry` (the worker role needs CREATE on it). Safe to run again.
     */
    async installDualWriteTrigger(ref: MigrationRef): Promise<StatementsRun> {
      return withMigration(deps, ref, async ({ definition, table, ddl }) => {
        if (definition.dualWrite.by !== 'trigger') return { statements: 0, retries: 0 };
        const statements = [createFunctionSql(ref.name, definition.dualWrite.body), createTriggerSql(ref.name, table)];
        return withHeartbeat(() => runDdl(deps.pool, statements, ddl(opts.ddl)));
      });
    },

    /** Drops ferry's trigger (when the table still exists) and its function, whatever `dualWrite` says. Safe to run again. */
    async dropDualWriteTrigger(ref: MigrationRef): Promise<StatementsRun> {
      return withMigration(deps, ref, async ({ table, ddl }) => {
        const exists = await tableExists(deps.pool, table);
        return withHeartbeat(() => runDdl(deps.pool, dropTriggerSql(ref.name, table, exists), ddl(opts.ddl)));
      });
    },

    /**
     * Records the mark of the deploy signal in `ferry.deploy_marks`: a new transaction id
     * (`pg_current_xact_id()`, 64-bit, as text) and the table's largest key at that moment. Rows
     * with a larger key whose `xmin` lies after the mark were inserted after the application was
     * declared deployed. The key stays in PostgreSQL: only the transaction id goes to Temporal.
     */
    async markDeploy(input: RunInput): Promise<{ xidMark: string }> {
      return withMigration(deps, input, async ({ describe }) => {
        const mark = await recordMark(deps.pool, maxKeySql(await describe()), { migration: input.name, runId: input.runId });
        return { xidMark: mark.xid_mark };
      });
    },

    /**
     * Checks that the deployed application writes the new shape: counts rows INSERTED after the
     * deploy mark that verify would call wrong (`verify.where`, default `backfill.where`), i.e. rows
     * the application created after the "deployed" signal in the old shape only. (`backfill.where`
     * alone may also match rows that are right as they are, e.g. a NULL that stays NULL.) Inserted after the mark means: a key above the
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
      return withMigration(deps, input, async ({ definition, describe }) => {
        const info = await describe();
        const mark = await markOf(deps, input);
        if (!keyIncreases(info)) return { badRows: 0, checkedRows: 0, skipped: true };
        const scan = {
          migration: input.name,
          runId: input.runId,
          extra: [mark.xid_mark],
          startAfter: mark.max_key,
          rangeSize: opts.rangeSize,
          unevaluable: 'skip' as const, // a row whose predicate cannot be evaluated is not an old-shape write
        };
        const totals = await scanWithHeartbeat(
          (onRange) => countByRanges(deps.pool, probeSql(info, definition.verify.where ?? definition.backfill.where), { ...scan, onRange }),
          (t) => ({ ranges: t.ranges, checkedRows: t.checkedRows, badRows: t.matchedRows }),
        );
        return { badRows: totals.matchedRows, checkedRows: totals.checkedRows, skipped: false };
      });
    },
  };
}

/** Whether the table is still there (after a contract that dropped it, the trigger is gone with it). */
async function tableExists(pool: Pool, table: string): Promise<boolean> {
  const { rows } = await pool.query(`SELECT to_regclass($1::text) IS NOT NULL AS exists`, [table]);
  return rows[0].exists;
}

/** The deploy mark of a run; a probe without one is a bug in the caller. */
async function markOf(deps: ActivityDeps, input: ProbeInput): Promise<DeployMark> {
  const mark = await readMark(deps.pool, { migration: input.name, runId: input.runId });
  if (!mark) {
    throw new FerryError('BAD_INPUT', `migration "${input.name}" has no deploy mark; markDeploy runs before the probe.`);
  }
  return mark;
}
