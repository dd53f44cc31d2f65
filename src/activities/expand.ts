import type { MigrationRef, StatementsRun, TargetDescription } from '../contract/activities';
import { FerryError } from '../contract/errors';
import { acceptsSpecHash } from '../definition/registry';
import { assertDdlSafe, reviewDdl } from '../ddl/checks';
import { runDdl, type DdlOptions } from '../pg/ddl';
import { completedRecord } from '../store/completed';
import { withHeartbeat, withMigration, type ActiveMigration, type ActivityDeps } from './context';
import { createDualWriteActivities } from './dual-write';

/** Tuning of the expand activities. */
export interface ExpandOptions {
  /** Options of the DDL (lock timeout, attempts); defaults from `FERRY_LOCK_TIMEOUT`. */
  ddl?: DdlOptions;
}

export type { TargetDescription } from '../contract/activities';

/**
 * The expand activities: `describeTarget` checks the table before anything changes, `expand`
 * runs `expand.up` (and installs ferry's trigger for `dualWrite: { by: 'trigger' }`).
 * @example Worker.create({ activities: { ...createExpandActivities({ pool, migrations }) } })
 */
export function createExpandActivities(deps: ActivityDeps, opts: ExpandOptions = {}) {
  const dualWrite = createDualWriteActivities(deps, { ddl: opts.ddl });
  return {
    /**
     * Checks that the migration's table and key exist and estimates its rows (planner
     * statistics, no `count(*)`). Changes nothing. Definition errors (no such table, no primary
     * key, no such key column) fail for good: fix the migration and start it again.
     */
    async describeTarget(ref: MigrationRef): Promise<TargetDescription> {
      return withMigration(deps, ref, async (m) => {
        const done = await completedBefore(deps, ref, m);
        if (done) return { table: m.table, key: [], rowsEstimated: 0, completedAt: done };
        const info = await m.describe();
        return { table: info.quoted, key: info.key.map((k) => k.name), rowsEstimated: info.estimatedRows };
      });
    },

    /**
     * Checks the definition's DDL for dangerous forms first (as `ferry plan` and `ferry start` do:
     * a start without DATABASE_URL could not), then runs `expand.up` through `runDdl` (short lock
     * timeouts, retried; the CONCURRENTLY forms outside a transaction), then installs ferry's
     * dual-write trigger when the migration asks for one. Safe to run again: `runDdl` skips a
     * statement whose effect is there, the author's others use `IF NOT EXISTS`, and the trigger is
     * replaced. `statements` counts every statement run, the trigger's included.
     */
    async expand(ref: MigrationRef): Promise<StatementsRun> {
      return withMigration(deps, ref, (m) =>
        withHeartbeat(async () => {
          await m.describe();
          assertDdlSafe(ref.name, await reviewDdl(deps.pool, m.definition));
          const up = await runDdl(deps.pool, m.definition.expand.up, m.ddl({ field: 'expand.up', ...opts.ddl }));
          const trigger = await dualWrite.installDualWriteTrigger(ref);
          return {
            statements: up.statements + trigger.statements,
            retries: up.retries + trigger.retries,
            triggerStatements: trigger.statements,
          };
        }),
      );
    },
  };
}

/**
 * When this migration's contract already ran (Temporal may have forgotten the workflow after its
 * retention), or undefined. The same name with another definition is a conflict: fails for good.
 */
async function completedBefore(deps: ActivityDeps, ref: MigrationRef, m: ActiveMigration): Promise<string | undefined> {
  const record = await completedRecord(deps.pool, ref.name);
  if (record && record.specHash !== ref.specHash && !acceptsSpecHash(m.migration, record.specHash)) {
    throw new FerryError(
      'CONFLICT',
      `migration "${ref.name}" already completed at ${record.completedAt} with another definition (spec ${record.specHash}); ` +
        'write a new migration under a new name.',
    );
  }
  return record?.completedAt;
}
