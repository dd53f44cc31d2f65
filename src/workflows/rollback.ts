/**
 * `ferry abort --rollback` on a migration whose run is over (failed, cancelled, terminated, or
 * aborted without rollback): a short run under the same workflow id that drops ferry's trigger and
 * runs `expand.down` (the `rollback` activity), records who and why, and ends in phase `aborted`,
 * so that `ferry status`, `ferry list` and `ferry start` see an aborted migration.
 */
import { ActivityFailure, ApplicationFailure, setCurrentDetails, setHandler } from '@temporalio/workflow';
import { abortUpdate, approveUpdate, auditQuery, finalizeUpdate, pauseUpdate, progressQuery, resumeUpdate } from '../contract/messages';
import type { MigrationState } from '../contract/migration';
import { progressOf, type Progress } from '../contract/progress';
import { MigrationPaused, MigrationPhase } from '../contract/search-attributes';
import type { RollbackInput, RollbackWorkflow } from '../contract/workflow';
import { shortActivities } from './activities';
import { audit } from './state';
import { detailsMarkdown, publishAttributes } from './ui';

/** The rollback of an ended run; throws (the run FAILS, nothing else changes) when the rollback fails. */
export async function rollbackWorkflow(input: RollbackInput): Promise<Progress> {
  const now = new Date().toISOString();
  const { previous } = input;
  const state: MigrationState = {
    phase: 'aborted',
    paused: false,
    rowsEstimated: 0,
    backfill: { rowsScanned: 0, rowsUpdated: 0, rowsFailed: 0, batches: 0, activeMs: 0, recentRate: 0, done: false, pass: 1 },
    abort: { by: input.by, reason: input.reason, rollback: true, at: now },
    waitingFor: "the rollback: ferry's trigger, then expand.down",
    audit: [...previous.audit],
  };
  audit(
    state,
    {
      action: 'rollback requested',
      by: input.by,
      detail: `${input.reason}; run ${previous.runId} had ended ${previous.status} in ${previous.phase}`,
    },
    new Date(),
  );
  registerHandlers(input, state);
  setCurrentDetails(detailsMarkdown(progressOf(input, state)));
  try {
    const result = await shortActivities().rollback({ name: input.name, specHash: input.specHash });
    audit(
      state,
      {
        action: 'aborted (rollback)',
        by: input.by,
        detail: `ferry's trigger and expand.down: ${result.statements} statements, ${result.retries} lock retries`,
      },
      new Date(),
    );
  } catch (err) {
    const cause = err instanceof ActivityFailure && err.cause ? err.cause : (err as Error);
    state.lastError = `rollback: ${cause.message}; fix the cause, then run "ferry abort ${input.name} --rollback" again`;
    audit(state, { action: 'rollback failed', by: 'ferry', detail: cause.message }, new Date());
    setCurrentDetails(detailsMarkdown(progressOf(input, state)));
    throw ApplicationFailure.nonRetryable(state.lastError, 'RollbackFailed');
  }
  state.waitingFor = undefined;
  publishAttributes(input, { phase: 'aborted', paused: false }, [
    { key: MigrationPhase, value: 'aborted' },
    { key: MigrationPaused, value: false },
  ]);
  setCurrentDetails(detailsMarkdown(progressOf(input, state)));
  return progressOf(input, state);
}

/** The queries `ferry status` and `ferry history` send; every control update is refused while it runs. */
function registerHandlers(input: RollbackInput, state: MigrationState): void {
  setHandler(progressQuery, () => progressOf(input, state), { description: 'Phase (aborted), the rollback, who asked for it.' });
  setHandler(auditQuery, () => state.audit, { description: 'The ended run audit trail, then the rollback: who, why, what.' });
  const refuse = () => {
    throw ApplicationFailure.nonRetryable(
      `migration "${input.name}" is being rolled back (ferry abort --rollback by ${input.by}); ` +
        `wait for it ("ferry status ${input.name}"), then "ferry start ${input.name}" starts it again.`,
      'CONFLICT',
    );
  };
  const description = 'Refused: the migration is being rolled back.';
  for (const update of [pauseUpdate, resumeUpdate, approveUpdate, finalizeUpdate, abortUpdate] as const) {
    setHandler(update as typeof abortUpdate, (_actor) => progressOf(input, state), { validator: (_actor) => refuse(), description });
  }
}

/** The workflow matches the signature clients start it with (src/contract/workflow.ts). */
const _signatureCheck: RollbackWorkflow = rollbackWorkflow;
