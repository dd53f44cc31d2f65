import type { ActivityDeps } from './context';
import { createBackfillActivities } from './backfill';
import { createContractActivities } from './contract';
import { createDualWriteActivities } from './dual-write';
import { createExpandActivities } from './expand';
import { createVerifyActivities } from './verify';

export type { ActivityDeps } from './context';

/**
 * Every activity of a migration, created from the worker's dependencies. One file per phase.
 * @example Worker.create({ ..., activities: createActivities({ pool, migrations }) })
 */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createExpandActivities(deps),
    ...createDualWriteActivities(deps),
    ...createBackfillActivities(deps),
    ...createVerifyActivities(deps),
    ...createContractActivities(deps),
  };
}

/** The activities' types, for `proxyActivities` in workflow code. */
export type MigrationActivities = ReturnType<typeof createActivities>;
