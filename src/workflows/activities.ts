/** Activity stubs with the timeouts and retry policies of each kind of work. */
import { proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import type { MigrationActivities } from '../contract/activities';
import { NON_RETRYABLE_CODES } from '../contract/errors';
import type { MigrationInput } from '../contract/migration';

const retry: ActivityOptions['retry'] = {
  initialInterval: '1s',
  backoffCoefficient: 2,
  maximumInterval: '1m',
  maximumAttempts: 10,
  nonRetryableErrorTypes: [...NON_RETRYABLE_CODES],
};

/**
 * `short`: markers and bookkeeping (seconds). `ddl`: expand, contract and rollback, whose statements
 * may wait on locks for minutes and run for hours (`CREATE INDEX CONCURRENTLY` or `VALIDATE
 * CONSTRAINT` on a big table); they heartbeat while a statement runs, so a dead worker is noticed
 * after the heartbeat timeout, and the start-to-close timeout (24 h, as `scan`'s) only bounds a
 * statement that never ends — a shorter one would cut a long index build, whose retry drops the
 * INVALID index and builds it again, from the start. `chunk`: one backfill chunk (heartbeats; a
 * dead worker is noticed after the heartbeat timeout). `scan`: verify and probe, which read the
 * table by key ranges and heartbeat after each.
 */
export function migrationActivities(input: MigrationInput) {
  const heartbeatTimeout = input.settings.heartbeatTimeoutMs;
  return {
    short: proxyActivities<MigrationActivities>({ startToCloseTimeout: '15m', retry }),
    ddl: proxyActivities<MigrationActivities>({ startToCloseTimeout: '24h', heartbeatTimeout, retry }),
    chunk: proxyActivities<MigrationActivities>({
      startToCloseTimeout: input.settings.chunkMs + 10 * 60_000,
      heartbeatTimeout,
      retry,
    }),
    scan: proxyActivities<MigrationActivities>({ startToCloseTimeout: '24h', heartbeatTimeout, retry }),
  };
}

export type Activities = ReturnType<typeof migrationActivities>;

/** The `short` stubs alone, for workflows without a MigrationInput (`rollbackWorkflow`). */
export function shortActivities() {
  return proxyActivities<MigrationActivities>({ startToCloseTimeout: '15m', retry });
}
