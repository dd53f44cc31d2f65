import type { MigrationActivities } from '../contract/activities';
import type { ActivityDeps } from './context';
import { createBackfillActivities } from './backfill';
import { createContractActivities } from './contract';
import { createDualWriteActivities } from './dual-write';
import { createExpandActivities } from './expand';
import { createVerifyActivities } from './verify';
import { createWaitActivities } from './waits';

export type { ActivityDeps } from './context';

/**
 * Every activity of a migration, created from the worker's dependencies. One file per phase.
 * @example Worker.create({ ..., activities: createActivities({ pool, migrations }) })
 */
export function createActivities(deps: ActivityDeps): MigrationActivities {
  return {
    ...createExpandActivities(deps),
    ...createDualWriteActivities(deps),
    ...createBackfillActivities(deps),
    ...createVerifyActivities(deps),
    ...createContractActivities(deps),
    ...createWaitActivities(deps),
  };
}

export type { MigrationActivities };
