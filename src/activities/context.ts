import { ApplicationFailure } from '@temporalio/activity';
import type { Pool } from 'pg';
import { FerryError } from '../contract/errors';
import type { FerryMetrics } from '../metrics';
import { acceptsSpecHash, type LoadedMigration } from '../definition/registry';
import type { MigrationRef } from '../contract/activities';

/** What every activity factory receives: the worker's pool and the migrations it can run. */
export interface ActivityDeps {
  pool: Pool;
  migrations: Map<string, LoadedMigration>;
  /** Rescans the migrations directory into `migrations` (a worker has it; tests may not). */
  reload?: () => void;
  /** Worker-side log; never shipped to Temporal. */
  log?: (message: string, fields?: Record<string, unknown>) => void;
  /** Prometheus metrics (`FERRY_METRICS_PORT`); absent: nothing is recorded. */
  metrics?: FerryMetrics;
}

export type { MigrationRef } from '../contract/activities';

/**
 * The worker's definition of `ref.name`, checked against the spec hash the workflow was started
 * with. On a miss the worker rescans its directory once; still unknown or different, the task is
 * retried (a worker deployed with the right file picks it up: during a rolling deploy an old
 * worker may see a migration first), and after the retries the migration pauses with the error.
 */
export function getMigration(deps: ActivityDeps, ref: MigrationRef): LoadedMigration {
  const known = deps.migrations.get(ref.name);
  if (!known || !acceptsSpecHash(known, ref.specHash)) deps.reload?.();
  const migration = deps.migrations.get(ref.name);
  if (!migration) {
    throw new FerryError(
      'UNKNOWN_MIGRATION',
      `migration "${ref.name}" is not known to this worker; deploy its file to FERRY_MIGRATIONS and restart the worker.`,
    );
  }
  if (!acceptsSpecHash(migration, ref.specHash)) {
    throw new FerryError(
      'SPEC_MISMATCH',
      `migration "${ref.name}" on this worker has spec ${migration.specHash}, but it was started with ${ref.specHash}; ` +
        'deploy the definition it was started with, or abort it and start it again.',
    );
  }
  return migration;
}

/**
 * Turns a FerryError into the Temporal failure its code calls for (`ERROR_RULES` in
 * src/contract/errors.ts); other errors pass through and are retried.
 */
export function toFailure(err: unknown): unknown {
  if (err instanceof FerryError) {
    return err.retryable ? ApplicationFailure.retryable(err.message, err.code) : ApplicationFailure.nonRetryable(err.message, err.code);
  }
  return err;
}
