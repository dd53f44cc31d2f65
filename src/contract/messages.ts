/**
 * The signals, updates and queries of a migration workflow, defined once and imported by the
 * workflow, the `ferry` CLI and the tests. The names are what `temporal workflow signal|update|query
 * --name ...` takes (see the README).
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { AuditEntry } from './migration';
import type { Progress } from './progress';

/**
 * Who sends a message, and why. `by` is what the caller typed (`--by`, else `$FERRY_USER`);
 * `identity` is what its credentials say (the client certificate's subject, an API key's subject,
 * else user@host: see src/client/identity.ts), recorded beside it in the audit trail.
 */
export interface Actor {
  by?: string;
  reason?: string;
  identity?: string;
}

/** The code that writes both shapes is deployed (`ferry deployed`). */
export const deployedSignal = defineSignal<[Actor?]>('deployed');

/** Stop the backfill after the current batch, or hold any other phase (`ferry pause`). */
export const pauseUpdate = defineUpdate<Progress, [Actor?]>('pause');

/** Continue from the checkpoint (`ferry resume`). */
export const resumeUpdate = defineUpdate<Progress, [Actor?]>('resume');

/**
 * What `approve` takes: who, and `acceptFailedRows` to contract although recorded failed rows still
 * fail (`ferry approve --accept-failed-rows`); without it, approval waits until none remain.
 */
export type Approval = Actor & { acceptFailedRows?: boolean };

/** Allow the contract to run once the cool-off has passed; may arrive early (`ferry approve`). */
export const approveUpdate = defineUpdate<Progress, [Approval?]>('approve');

/**
 * Re-run the recorded failed rows now and answer with the new progress (`ferry retry-failed`):
 * rows that now succeed leave the list; `failedRows.remaining` says how many still fail.
 */
export const retryFailedUpdate = defineUpdate<Progress, [Actor?]>('retryFailed');

/** Stop the migration before contracting; `rollback` also runs `expand.down` (`ferry abort`). */
export const abortUpdate = defineUpdate<Progress, [Actor & { rollback?: boolean }]>('abort');

/** Run the rest of the backfill now, without deadline pacing; health checks still apply (`ferry finalize`). */
export const finalizeUpdate = defineUpdate<Progress, [Actor?]>('finalize');

/** Phase, counters, rate, ETA and what the migration waits for (`ferry status`). */
export const progressQuery = defineQuery<Progress>('progress');

/** The audit trail: who started, signalled, paused, approved, aborted, and when (`ferry history`). */
export const auditQuery = defineQuery<AuditEntry[]>('audit');
