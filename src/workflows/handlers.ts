/**
 * The signal, update and query handlers. They only record what was asked (with who and why) and
 * publish it; the main loop acts on it. Validators are synchronous: a rejected update writes
 * nothing to the history and the caller gets the reason.
 */
import { ApplicationFailure, setHandler } from '@temporalio/workflow';
import {
  abortUpdate,
  approveUpdate,
  finalizeUpdate,
  auditQuery,
  deployedSignal,
  pauseUpdate,
  progressQuery,
  resumeUpdate,
  retryFailedUpdate,
  type Actor,
  type Approval,
} from '../contract/messages';
import { progressOf, type Progress } from '../contract/progress';
import { audit } from './state';
import { approvalRefusal } from '../contract/approval';
import type { MigrationInput, MigrationState } from '../contract/migration';
import { canAbort, canFinalize, isFinal } from '../contract/phases';
import { publish } from './ui';
import { knownFailedRows, type RecheckFailedRows } from './failed-rows';

const who = (actor?: Actor) => actor?.by || 'unknown';

/**
 * Who, for the audit trail: what the caller typed (`by`) and, beside it, the identity its
 * credentials give (`identity`, set by the ferry client; the workflow cannot see the TLS peer).
 */
const caller = (actor?: Actor) => ({ by: who(actor), ...(actor?.identity ? { identity: actor.identity } : {}) });

function reject(message: string): never {
  throw ApplicationFailure.nonRetryable(message, 'CONFLICT');
}

/** What every handler needs: the migration, its state, and helpers to check and publish it. */
interface HandlerContext {
  input: MigrationInput;
  state: MigrationState;
  name: string;
  /** Has the migration ended? */
  done: () => boolean;
  /** Publishes the state to the Web UI and returns the progress (what updates answer). */
  changed: () => Progress;
  /** Re-runs the recorded failed rows (`retryFailed`). */
  recheckFailedRows: RecheckFailedRows;
}

/** Registers every handler; call before the first `await`. */
export function registerHandlers(input: MigrationInput, state: MigrationState, recheckFailedRows: RecheckFailedRows): void {
  const ctx: HandlerContext = {
    input,
    state,
    recheckFailedRows,
    name: input.name,
    done: () => isFinal(state.phase),
    changed: () => {
      publish(input, state);
      return progressOf(input, state);
    },
  };
  registerQueries(ctx);
  registerDeployed(ctx);
  registerPauseResume(ctx);
  registerApproveFinalize(ctx);
  registerAbort(ctx);
  registerRetryFailed(ctx);
}

/** `progress` and `audit`. */
function registerQueries({ input, state }: HandlerContext): void {
  setHandler(progressQuery, () => progressOf(input, state), { description: 'Phase, rows done, rate, ETA, what it waits for.' });
  setHandler(auditQuery, () => state.audit, { description: 'Who started, signalled, paused, approved, aborted, and when.' });
}

/** The deploy signal: recorded even before the phase that waits for it. */
function registerDeployed({ input, state }: HandlerContext): void {
  setHandler(
    deployedSignal,
    (actor) => {
      audit(state, { action: 'deployed', ...caller(actor), detail: actor?.reason }, new Date());
      if (!state.deployed) state.deployed = { by: who(actor), at: new Date().toISOString() };
      publish(input, state);
    },
    { description: 'The code that writes both shapes is deployed.' },
  );
}

/** `pause` and `resume`, each with who and why. */
function registerPauseResume({ state, name, done, changed }: HandlerContext): void {
  setHandler(
    pauseUpdate,
    (actor) => {
      state.paused = true;
      state.pauseReason = actor?.reason || `paused by ${who(actor)}`;
      audit(state, { action: 'paused', ...caller(actor), detail: actor?.reason }, new Date());
      return changed();
    },
    {
      validator: (_actor?: Actor) => {
        if (done()) reject(`migration "${name}" is ${state.phase}; there is nothing to pause.`);
        if (state.paused) reject(`migration "${name}" is already paused; run "ferry resume ${name}" to continue.`);
      },
      description: 'Stop after the current batch (or hold the current phase).',
    },
  );

  setHandler(
    resumeUpdate,
    (actor) => {
      state.paused = false;
      state.pauseReason = undefined;
      state.lastError = undefined;
      if (state.waitingFor?.startsWith(`"ferry resume`)) state.waitingFor = undefined; // holdWhilePaused's, over now
      audit(state, { action: 'resumed', ...caller(actor), detail: actor?.reason }, new Date());
      return changed();
    },
    {
      validator: (_actor?: Actor) => {
        if (!state.paused) reject(`migration "${name}" is not paused (phase ${state.phase}).`);
      },
      description: 'Continue from the checkpoint.',
    },
  );
}

/** `approve` (may arrive early) and `finalize` (drops deadline pacing). */
function registerApproveFinalize({ input, state, name, done, changed }: HandlerContext): void {
  setHandler(
    approveUpdate,
    (actor) => {
      const failed = knownFailedRows(state);
      const accepting = actor?.acceptFailedRows === true;
      state.approved = { ...caller(actor), at: new Date().toISOString(), ...(accepting ? { acceptedFailedRows: failed } : {}) };
      if (state.phase === 'awaiting-approval' && !state.paused) state.waitingFor = 'the contract to start (approved)';
      const action = accepting && failed > 0 ? `approved (accepting ${failed} failed rows)` : 'approved';
      audit(state, { action, ...caller(actor), detail: actor?.reason }, new Date());
      return changed();
    },
    {
      validator: (actor?: Approval) => {
        if (done()) reject(`migration "${name}" is ${state.phase}; there is nothing to approve.`);
        if (state.approved) reject(`migration "${name}" was already approved by ${state.approved.by}.`);
        // Who may approve (contract.approval as an object). A validator does not run on replay, so
        // this rule needs no patched(): histories keep the approvals they accepted.
        const refusal = input.approval && approvalRefusal(name, input.approval, input.startedIdentity, actor?.identity);
        if (refusal) reject(refusal);
        const remaining = state.failedRows?.remaining ?? 0;
        if (remaining > 0 && actor?.acceptFailedRows !== true) {
          reject(
            `migration "${name}" has ${remaining} recorded failed rows that still fail; list them with ${state.failedRows!.query}; ` +
              `fix them and run "ferry retry-failed ${name}", then approve again; or "ferry approve ${name} --accept-failed-rows" to contract without them.`,
          );
        }
      },
      description:
        'Allow the contract once the cool-off has passed. Refused while recorded failed rows still fail, unless acceptFailedRows is true.',
    },
  );

  setHandler(
    finalizeUpdate,
    (actor) => {
      state.backfill.finalized = { by: who(actor), at: new Date().toISOString() };
      audit(state, { action: 'finalized', ...caller(actor), detail: actor?.reason }, new Date());
      return changed();
    },
    {
      validator: (_actor?: Actor) => {
        if (!canFinalize(state.phase)) {
          reject(`migration "${name}" is ${state.phase}; its backfill is over, there is nothing to finalize.`);
        }
        if (state.backfill.finalized) reject(`migration "${name}" was already finalized by ${state.backfill.finalized.by}.`);
      },
      description: 'Run the rest of the backfill now, without deadline pacing (health checks still apply).',
    },
  );
}

/** `abort`, allowed until the contract starts. */
function registerAbort({ state, name, changed }: HandlerContext): void {
  setHandler(
    abortUpdate,
    (actor) => {
      const reason = actor?.reason || 'no reason given';
      state.abort = { by: who(actor), reason, rollback: actor?.rollback === true, at: new Date().toISOString() };
      state.waitingFor = `the abort to take effect${actor?.rollback ? ' (expand.down runs first)' : ''}`;
      audit(state, { action: actor?.rollback ? 'aborted (rollback)' : 'aborted', ...caller(actor), detail: reason }, new Date());
      return changed();
    },
    {
      validator: (_actor?: Actor) => {
        if (state.abort) reject(`migration "${name}" is already being aborted by ${state.abort.by}.`);
        if (!canAbort(state.phase)) {
          reject(`migration "${name}" is ${state.phase}; it can no longer be aborted. Write a new migration to undo it.`);
        }
      },
      description: 'Stop before contracting; with rollback, also run expand.down.',
    },
  );
}

/** `retryFailed`: re-runs the recorded failed rows now and answers with the new progress. */
function registerRetryFailed({ state, name, changed, recheckFailedRows }: HandlerContext): void {
  setHandler(
    retryFailedUpdate,
    async (actor) => {
      await recheckFailedRows(who(actor), actor?.identity);
      return changed();
    },
    {
      validator: (_actor?: Actor) => {
        if (state.phase !== 'cooling-off' && state.phase !== 'awaiting-approval') {
          reject(
            `migration "${name}" is ${state.phase}; failed rows are re-run once the backfill and verify are over ` +
              '(cooling-off or awaiting-approval), and before the contract.',
          );
        }
      },
      description: 'Re-run the recorded failed rows now (fixed ones leave the list); answers with the count that still fails.',
    },
  );
}
