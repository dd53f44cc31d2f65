/**
 * Recovery after a run is over without completing: `ferry abort --rollback` on a failed,
 * cancelled or terminated migration (a `rollbackWorkflow` run under the same id), and the resume
 * point `ferry start` hands a new run (the ended run's checkpoints).
 */
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { FerryError } from '../contract/errors';
import * as msg from '../contract/messages';
import type { AuditEntry, MigrationInput } from '../contract/migration';
import type { Phase } from '../contract/phases';
import type { Progress } from '../contract/progress';
import { MIGRATION_WORKFLOW, ROLLBACK_WORKFLOW, type RollbackInput, type RollbackWorkflow } from '../contract/workflow';
import { workflowId } from '../config';
import { acceptsSpecHash, type LoadedMigration } from '../definition/registry';
import type { FerryClient } from './connect';
import { control, findMigration, migrationHandle, type FoundMigration } from './control';
import { migrationAttributes, missingSearchAttributes, startAttributes } from './search-attributes';

/** How long `ferry abort --rollback` waits for a worker to run the rollback. */
const ROLLBACK_WAIT_MS = 120_000;

/**
 * Temporal statuses of a run stopped from outside (a cancel request, a terminate, a run timeout):
 * a new start resumes its checkpoints. A FAILED run failed on its definition or its data (e.g.
 * more failed rows than allowed, recorded under its run id): a new start begins afresh, and
 * `backfill.where` makes the rows it did no-ops.
 */
const STOPPED = ['CANCELLED', 'TERMINATED', 'TIMED_OUT'];

/** The latest run of a migration, as recovery sees it. */
export interface LatestRun {
  runId: string;
  type: string;
  /** Temporal's status: RUNNING, COMPLETED, FAILED, CANCELLED, TERMINATED, TIMED_OUT, CONTINUED_AS_NEW. */
  status: string;
  /** The `MigrationPhase` search attribute. */
  phase: Phase;
  specHash?: string;
  table: string;
}

/** The latest run, from its description. */
export function latestRun({ description }: FoundMigration): LatestRun {
  const attrs = migrationAttributes(description);
  return {
    runId: description.runId,
    type: description.type,
    status: description.status.name,
    phase: attrs.phase ?? 'expanding',
    specHash: attrs.specHash,
    table: attrs.table ?? '',
  };
}

/** "failed in backfilling", "cancelled in backfilling", "terminated in backfilling". */
export function endedWords(run: LatestRun): string {
  const status = run.status === 'CANCELLED' ? 'cancelled' : run.status.toLowerCase().replace('_', ' ');
  return run.phase === 'failed' || run.phase === 'cancelled' || run.phase === 'aborted' ? run.phase : `${status} in ${run.phase}`;
}

/** What `ferry abort` did: an update to the running migration, or a rollback run after an ended one. */
export type AbortOutcome = { kind: 'update'; progress: Progress } | { kind: 'rollback'; progress: Progress; after: LatestRun };

/**
 * `ferry abort [--rollback]`. A running migration gets the `abort` update. A migration whose run is
 * over (failed, cancelled, terminated, or aborted without rollback) can only be rolled back: with
 * `rollback`, a `rollbackWorkflow` run drops ferry's trigger and runs expand.down through a worker
 * and ends `aborted`; without it, CONFLICT (exit 3) says that it is over and what --rollback does.
 * @example await abortMigration(fc, 'posts-member-uuid', { by: 'carol', reason: 'wrong type', rollback: true })
 */
export async function abortMigration(
  fc: FerryClient,
  name: string,
  actor: msg.Actor & { rollback?: boolean },
  definition?: LoadedMigration,
): Promise<AbortOutcome> {
  const found = await migrationHandle(fc, name);
  const run = latestRun(found);
  if (run.status === 'RUNNING' && run.type === ROLLBACK_WORKFLOW) {
    throw new FerryError('CONFLICT', `migration "${name}" is being rolled back; wait for it ("ferry status ${name}").`);
  }
  if (run.status === 'RUNNING') return { kind: 'update', progress: await control(fc, name, msg.abortUpdate, actor) };
  refuseRollback(name, run, actor.rollback === true);
  if (definition && run.specHash && !acceptsSpecHash(definition, run.specHash)) {
    throw new FerryError(
      'CONFLICT',
      `migration "${name}" was started with spec ${run.specHash}, but its file now has spec ${definition.specHash}; ` +
        `a worker rolls back the definition the run was started with: restore that file, then run "ferry abort ${name} --rollback" again.`,
    );
  }
  const progress = await runRollback(fc, name, run, actor);
  return { kind: 'rollback', progress, after: run };
}

/** The ended run cannot (or need not) be rolled back: CONFLICT with the reason and the next step. */
function refuseRollback(name: string, run: LatestRun, rollback: boolean): void {
  if (run.type === ROLLBACK_WORKFLOW && run.status === 'COMPLETED') {
    throw new FerryError(
      'CONFLICT',
      `migration "${name}" was already aborted and rolled back; nothing to abort. "ferry start ${name}" starts it again from scratch.`,
    );
  }
  if (run.phase === 'completed') {
    throw new FerryError('CONFLICT', `migration "${name}" is completed; there is nothing to abort. Write a new migration to undo it.`);
  }
  if (run.phase === 'contracting') {
    throw new FerryError(
      'CONFLICT',
      `migration "${name}" ended ${endedWords(run)}: contract.up may have run, and expand.down cannot undo it. ` +
        `"ferry start ${name}" runs the contract to its end (it is idempotent).`,
    );
  }
  if (!rollback) {
    throw new FerryError(
      'CONFLICT',
      `migration "${name}" is already over: it ended ${endedWords(run)}; nothing is running to abort. ` +
        `What expand added (columns, indexes, ferry's trigger) is still there: "ferry abort ${name} --rollback" drops ferry's ` +
        `trigger and runs expand.down through a worker; "ferry start ${name}" starts it again` +
        `${run.type === MIGRATION_WORKFLOW && STOPPED.includes(run.status) ? ', resuming from its checkpoints' : ''}.`,
    );
  }
}

/** Starts `rollbackWorkflow` under the migration's id and waits for a worker to finish it. */
async function runRollback(fc: FerryClient, name: string, run: LatestRun, actor: msg.Actor): Promise<Progress> {
  const id = workflowId(name);
  const input: RollbackInput = {
    name,
    table: run.table,
    specHash: run.specHash ?? '',
    by: actor.by || 'unknown',
    reason: actor.reason || 'no reason given',
    previous: { runId: run.runId, status: run.status, phase: run.phase, audit: await auditOf(fc, id, run.runId) },
  };
  const missing = await missingSearchAttributes(fc);
  if (missing.length > 0) input.missingSearchAttributes = missing;
  let handle;
  try {
    handle = await fc.client.workflow.start<RollbackWorkflow>(ROLLBACK_WORKFLOW, {
      workflowId: id,
      taskQueue: fc.config.taskQueue,
      args: [input],
      workflowIdConflictPolicy: 'FAIL',
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
      ...startAttributes({ name, table: run.table, specHash: input.specHash, phase: run.phase, paused: false }, missing),
      staticSummary: `ferry rollback of ${name} on ${run.table} (${input.by}: ${input.reason})`,
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      throw new FerryError(
        'CONFLICT',
        `migration "${name}" was started or rolled back by someone else meanwhile; see "ferry status ${name}".`,
      );
    }
    throw err;
  }
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new FerryError(
            'UNAVAILABLE',
            `the rollback of migration "${name}" was started but no worker finished it within ${ROLLBACK_WAIT_MS / 1000}s; ` +
              `it runs once a worker is up ("ferry worker", task queue "${fc.config.taskQueue}"); "ferry status ${name}" shows it.`,
          ),
        ),
      ROLLBACK_WAIT_MS,
    );
  });
  try {
    return await Promise.race([handle.result(), late]);
  } catch (err) {
    if (err instanceof FerryError) throw err;
    const cause = (err as { cause?: Error }).cause;
    throw new FerryError('FAILED', `the rollback of migration "${name}" failed: ${cause?.message ?? (err as Error).message}`);
  } finally {
    clearTimeout(timer);
  }
}

/** The audit trail of an ended run (a worker answers the query by replaying it); empty when none answers. */
async function auditOf(fc: FerryClient, id: string, runId: string): Promise<AuditEntry[]> {
  try {
    return await fc.client.withDeadline(Date.now() + 10_000, () => fc.client.workflow.getHandle(id, runId).query(msg.auditQuery));
  } catch {
    return [];
  }
}

/** Where a new run continues: the ended run's checkpoints (`MigrationInput.resumeFrom`). */
export type ResumePoint = NonNullable<MigrationInput['resumeFrom']>;

/**
 * The checkpoints a new `ferry start` continues: those of the latest run when it is a migration
 * run stopped from outside (cancelled, terminated, timed out; not failed, aborted or rolled back)
 * with the same definition. Its checkpoints are keyed by its `resumeFrom` run, or by
 * its chain's first run.
 */
export async function resumePoint(fc: FerryClient, m: LoadedMigration): Promise<ResumePoint | undefined> {
  const found = await findMigration(fc, m.name);
  if (!found) return undefined;
  const run = latestRun(found);
  if (run.type !== MIGRATION_WORKFLOW || !STOPPED.includes(run.status)) return undefined;
  if (run.phase === 'aborted' || run.phase === 'completed' || run.phase === 'failed') return undefined;
  if (!run.specHash || !acceptsSpecHash(m, run.specHash)) return undefined;
  const started = await startedEvent(fc, found.handle.workflowId, run.runId);
  const runId = started.input?.resumeFrom?.runId ?? started.firstExecutionRunId;
  return runId ? { runId, status: run.status, phase: run.phase } : undefined;
}

/** The first event of a run: its input and its chain's first run id (one page of one event). */
export async function startedEvent(
  fc: FerryClient,
  workflowId: string,
  runId: string,
): Promise<{ input?: MigrationInput; firstExecutionRunId?: string }> {
  const res = await fc.client.workflowService.getWorkflowExecutionHistory({
    namespace: fc.config.namespace,
    execution: { workflowId, runId },
    maximumPageSize: 1,
  });
  const attrs = res.history?.events?.[0]?.workflowExecutionStartedEventAttributes;
  const payload = attrs?.input?.payloads?.[0];
  const input = payload ? fc.client.options.loadedDataConverter.payloadConverter.fromPayload<MigrationInput>(payload) : undefined;
  return { input, firstExecutionRunId: attrs?.firstExecutionRunId ?? undefined };
}
