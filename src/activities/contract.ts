import type { MigrationRef, StatementsRun } from '../contract/activities';
import { runDdl, type DdlOptions } from '../pg/ddl';
import { recordCompleted } from '../store/completed';
import { withHeartbeat, withMigration, type ActivityDeps } from './context';
import { createDualWriteActivities } from './dual-write';

/** Tuning of the contract activities. */
export interface ContractOptions {
  /** Options of the DDL (lock timeout, attempts); defaults from `FERRY_LOCK_TIMEOUT`. */
  ddl?: DdlOptions;
}

/**
 * The closing activities: `contract` finishes a migration, `rollback` undoes its expand.
 * @example Worker.create({ activities: { ...createContractActivities({ pool, migrations }) } })
 */
export function createContractActivities(deps: ActivityDeps, opts: ContractOptions = {}) {
  const dualWrite = createDualWriteActivities(deps, { ddl: opts.ddl });

  /** Drops ferry's trigger if any, then runs `contract.up` or `expand.down` through runDdl. */
  function dropTriggerThen(ref: MigrationRef, pick: 'contract' | 'expand.down'): Promise<StatementsRun> {
    return withMigration(deps, ref, ({ definition, ddl }) =>
      withHeartbeat(async () => {
        const statements = pick === 'contract' ? definition.contract.up : definition.expand.down;
        const dropped = await dualWrite.dropDualWriteTrigger(ref);
        const ran = await runDdl(deps.pool, statements, ddl({ field: pick === 'contract' ? 'contract.up' : 'expand.down', ...opts.ddl }));
        return {
          statements: dropped.statements + ran.statements,
          retries: dropped.retries + ran.retries,
          triggerStatements: dropped.statements,
        };
      }),
    );
  }

  return {
    /**
     * Drops ferry's dual-write trigger (if any), runs `contract.up` through runDdl, and records
     * the migration in `ferry.completed_migrations` (kept after Temporal forgets it). Safe to
     * run again: the trigger is dropped `IF EXISTS` (also when the table is gone) and the
     * author's statements use `IF EXISTS`. `statements` counts every statement run.
     */
    async contract(ref: MigrationRef): Promise<StatementsRun> {
      const result = await dropTriggerThen(ref, 'contract');
      await withMigration(deps, ref, () => recordCompleted(deps.pool, ref.name, ref.specHash));
      return result;
    },

    /**
     * Undoes the expand before contract: drops ferry's trigger (if any), then runs
     * `expand.down`. Safe to run again, and to run after a failed or partial expand.
     */
    async rollback(ref: MigrationRef): Promise<StatementsRun> {
      return dropTriggerThen(ref, 'expand.down');
    },
  };
}
