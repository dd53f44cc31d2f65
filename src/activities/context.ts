import { ApplicationFailure } from '@temporalio/activity';
import type { Pool } from 'pg';
import { FerryError, NON_RETRYABLE_CODES } from '../contract/errors';
import type { FerryMetrics } from '../metrics';
import type { LoadedMigration } from '../definition/registry';

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

/** Names a migration and the definition it was started with; every activity input has these. */
export interface MigrationRef {
  name: string;
  specHash: string;
}

/**
 * The worker's definition of `ref.name`, checked against the spec hash the workflow was started
 * with. On a miss the worker rescans its directory once; still unknown or different, the task is
 * retried (a worker deployed with the right file picks it up: during a rolling deploy an old
 * worker may see a migration first), and after the retries the migration pauses with the error.
 */
export function getMigration(deps: ActivityDeps, ref: MigrationRef): LoadedMigration {
  if (deps.migrations.get(ref.name)?.specHash !== ref.specHash) deps.reload?.();
  const migration = deps.migrations.get(ref.name);
  if (!migration) {
    throw ApplicationFailure.retryable(
      `migration "${ref.name}" is not known to this worker; deploy its file to FERRY_MIGRATIONS and restart the worker.`,
      'UNKNOWN_MIGRATION',
    );
  }
  if (migration.specHash !== ref.specHash) {
    throw ApplicationFailure.retryable(
      `migration "${ref.name}" on this worker has spec ${migration.specHash}, but it was started with ${ref.specHash}; ` +
        'deploy the definition it was started with, or abort it and start it again.',
      'SPEC_MISMATCH',
    );
  }
  return migration;
}

/** Turns a FerryError into the Temporal failure of the right kind; other errors pass through. */
export function toFailure(err: unknown): unknown {
  if (err instanceof FerryError) {
    return NON_RETRYABLE_CODES.includes(err.code)
      ? ApplicationFailure.nonRetryable(err.message, err.code)
      : ApplicationFailure.retryable(err.message, err.code);
  }
  return err;
}
