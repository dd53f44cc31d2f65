/**
 * The migration workflow: expand → awaiting-deploy → backfilling → verifying → cooling-off →
 * awaiting-approval → contracting, one phase function each (phases.ts). Pause holds any phase,
 * abort ends any phase before contracting, Temporal's cancel request ends any phase that is not
 * over (the schema stays as it is), and continue-as-new keeps the history short.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  allHandlersFinished,
  condition,
  continueAsNew,
} from '@temporalio/workflow';
import { isRetryable } from '../contract/errors';
import type { MigrationWorkflow } from '../contract/workflow';
import { migrationActivities } from './activities';
import { registerHandlers } from './handlers';
import { failedRowsRecheck } from './failed-rows';
import * as phases from './phases';
import { checkpointRunId, historyIsLong, syncCounters } from './backfill';
import { handlesCancellation } from './cancel';
import { progressOf, type Progress } from '../contract/progress';
import { audit, enter, IllegalTransitionError, initialState } from './state';
import { publish } from './ui';
import { neverExpanded } from './waits';
import type { MigrationInput, MigrationState } from '../contract/migration';
import { canAbort, isFinal } from '../contract/phases';

/**
 * One migration, from `ferry start` to the contract. `resumed` is the state handed over by
 * continue-as-new; a new migration starts without it.
 */
export async function migrationWorkflow(input: MigrationInput, resumed?: MigrationState): Promise<Progress> {
  const state = resumed ?? initialState(input, new Date());
  const acts = migrationActivities(input);
  const recheckFailedRows = failedRowsRecheck(input, state, acts);
  registerHandlers(input, state, recheckFailedRows);
  const ctx: phases.PhaseContext = { input, state, acts, recheckFailedRows };
  publish(input, state);
  try {
    while (!isFinal(state.phase)) {
      await holdWhilePaused(input, state);
      if (state.abort && canAbort(state.phase)) {
        await guarded(ctx, () => abort(ctx));
      } else if ((await guarded(ctx, () => runPhase(ctx))) === 'continue-as-new' || historyIsLong(input)) {
        await condition(allHandlersFinished);
        await continueAsNew<typeof migrationWorkflow>(input, state);
      }
      publish(input, state);
    }
  } catch (err) {
    if (isFinal(state.phase) || !handlesCancellation(err)) throw err;
    await CancellationScope.nonCancellable(async () => {
      await cancelled(ctx);
      await condition(allHandlersFinished);
    });
    throw err; // the run ends CANCELLED
  }
  await condition(allHandlersFinished);
  if (state.phase === 'failed') throw ApplicationFailure.nonRetryable(state.lastError ?? 'migration failed', 'MigrationFailed');
  return progressOf(input, state);
}

function runPhase(ctx: phases.PhaseContext): Promise<unknown> {
  switch (ctx.state.phase) {
    case 'expanding':
      return phases.expanding(ctx);
    case 'awaiting-deploy':
      return phases.awaitingDeploy(ctx);
    case 'backfilling':
      return phases.backfilling(ctx);
    case 'verifying':
      return phases.verifying(ctx);
    case 'cooling-off':
      return phases.coolingOff(ctx);
    case 'awaiting-approval':
      return phases.awaitingApproval(ctx);
    case 'contracting':
      return phases.contracting(ctx);
    default:
      return Promise.resolve();
  }
}

async function holdWhilePaused(input: MigrationInput, state: MigrationState): Promise<void> {
  if (!state.paused) return;
  state.waitingFor = `"ferry resume ${input.name}" (paused: ${state.pauseReason ?? 'no reason given'})`;
  publish(input, state);
  await condition(() => !state.paused || (state.abort !== undefined && canAbort(state.phase)));
  state.waitingFor = undefined;
}

/** Aborts: rolls back `expand` when asked. Nothing is dropped that expand did not add. */
async function abort({ input, state, acts }: phases.PhaseContext): Promise<void> {
  if (state.abort?.rollback && neverExpanded(state)) {
    // It waited for other migrations and never expanded: expand.down could drop what they added.
    audit(state, { action: 'rollback skipped', by: 'ferry', detail: 'it never expanded (it was waiting for its turn)' }, new Date());
  } else if (state.abort?.rollback) {
    state.waitingFor = 'the rollback (expand.down)';
    publish(input, state);
    await acts.ddl.rollback({ name: input.name, specHash: input.specHash });
  }
  state.waitingFor = undefined;
  enter(state, 'aborted');
}

/**
 * Temporal cancelled the run: the chunks have finished their batches (runRound waited for them);
 * record the counters from the checkpoints and who cancelled, and end in `cancelled`. Nothing is
 * rolled back: "ferry abort --rollback" does that, "ferry start" resumes from the checkpoints.
 */
async function cancelled({ input, state, acts }: phases.PhaseContext): Promise<void> {
  const was = state.phase;
  if (state.backfill.partitionsLeft) {
    await syncCounters(input.name, state, acts, checkpointRunId(input)).catch(() => undefined); // counters are a nicety here
  }
  state.paused = false;
  state.pauseReason = undefined;
  state.waitingFor = undefined;
  state.cancelled = { by: 'Temporal', at: new Date().toISOString() };
  audit(
    state,
    {
      action: 'cancelled',
      by: 'Temporal',
      detail:
        `cancel request (temporal workflow cancel / Web UI) in ${was}; the schema stays as it is: ` +
        `"ferry abort ${input.name} --rollback" removes what expand added, "ferry start ${input.name}" resumes from the checkpoints`,
    },
    new Date(),
  );
  enter(state, 'cancelled');
  publish(input, state);
}

/**
 * Runs a step; a failure that a retry cannot fix fails the migration, any other failure (retries
 * exhausted) pauses it with the error so that an operator can fix the cause and resume.
 */
async function guarded<T>(ctx: phases.PhaseContext, step: () => Promise<T>): Promise<T | undefined> {
  try {
    return await step();
  } catch (err) {
    if (err instanceof IllegalTransitionError) throw err; // a bug: fail the workflow task, not the migration
    if (handlesCancellation(err)) throw err; // Temporal's cancel request: the main loop ends the run
    const { state } = ctx;
    const cause = err instanceof ActivityFailure && err.cause instanceof ApplicationFailure ? err.cause : undefined;
    const message = cause?.message ?? (err as Error).message;
    state.lastError = `${state.phase}: ${message}`;
    if (cause && !isRetryable(cause.type)) {
      enter(state, 'failed');
    } else {
      state.paused = true;
      state.pauseReason = `error in ${state.phase}; fix the cause, then run "ferry resume ${ctx.input.name}"`;
    }
    audit(state, { action: state.phase === 'failed' ? 'failed' : 'paused on error', by: 'ferry', detail: message }, new Date());
    return undefined;
  }
}

/** The workflow matches the signature clients start it with (src/contract/workflow.ts). */
const _signatureCheck: MigrationWorkflow = migrationWorkflow;
