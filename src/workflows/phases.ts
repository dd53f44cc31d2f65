/**
 * One function per phase. Each returns when its phase is over (having set the next phase) or
 * early when the migration is paused or aborted; the main loop then holds or aborts.
 */
import { condition, patched } from '@temporalio/workflow';
import type { Activities } from './activities';
import { checkpointRunId, runBackfillPass, type PassOutcome } from './backfill';
import { startDeadline } from './deadline';
import {
  FAILED_ROWS_GATE,
  failedRowsWaiting,
  holdForFailedRows,
  knownFailedRows,
  unacceptedFailedRows,
  type RecheckFailedRows,
} from './failed-rows';
import { REVERIFY_PATCH, watchCoolOff } from './reverify';
import { audit, enter } from './state';
import { WAITS_PATCH, waitTurn } from './waits';
import { publish } from './ui';
import type { MigrationInput, MigrationState } from '../contract/migration';
import { statementsDetail } from '../contract/progress';
import { describeApprovalRule } from '../contract/approval';

/** Everything a phase needs. */
export interface PhaseContext {
  input: MigrationInput;
  state: MigrationState;
  acts: Activities;
  /** Re-runs the recorded failed rows (see failed-rows.ts). */
  recheckFailedRows: RecheckFailedRows;
}

const interrupted = (s: MigrationState) => s.paused || s.abort !== undefined;
const ref = (input: MigrationInput) => ({ name: input.name, specHash: input.specHash });

/**
 * Waits for its turn (`after`, the same columns: waits.ts), then additive DDL under a short
 * lock_timeout (and ferry's trigger in trigger mode).
 */
export async function expanding({ input, state, acts }: PhaseContext): Promise<'continue-as-new' | void> {
  if (patched(WAITS_PATCH)) {
    const turn = await waitTurn(input, state, acts);
    if (turn === 'continue-as-new') return turn;
    if (turn !== 'ready') return;
  }
  const target = await acts.short.describeTarget(ref(input));
  if (target.completedAt) {
    // Temporal forgot an earlier run (retention); PostgreSQL remembers its contract ran.
    audit(state, { action: 'already completed', by: 'ferry', detail: `at ${target.completedAt} (ferry.completed_migrations)` }, new Date());
    enter(state, 'completed');
    return;
  }
  state.rowsEstimated = target.rowsEstimated;
  if (interrupted(state)) return;
  const result = await acts.ddl.expand(ref(input));
  audit(
    state,
    { action: 'expanded', by: 'ferry', detail: `${statementsDetail(result, 'expand.up')}, ${result.retries} lock retries` },
    new Date(),
  );
  enter(state, input.dualWrite === 'trigger' ? 'backfilling' : 'awaiting-deploy');
}

/** Waits for the `deployed` signal, then probes that new writes carry the new shape. */
export async function awaitingDeploy({ input, state, acts }: PhaseContext): Promise<void> {
  state.waitingFor = `the "deployed" signal: deploy the code that writes both shapes, then run "ferry deployed ${input.name}"`;
  publish(input, state);
  await condition(() => state.deployed !== undefined || interrupted(state));
  if (!state.deployed) return;
  if (!state.deployed.xidMark)
    state.deployed.xidMark = (await acts.short.markDeploy({ ...ref(input), runId: checkpointRunId(input) })).xidMark;
  state.waitingFor = 'the dual-write probe: rows the application writes after the deploy signal';
  publish(input, state);
  await condition(() => interrupted(state), input.settings.probeWindowMs);
  if (interrupted(state)) return;
  await probe({ input, state, acts });
  state.waitingFor = undefined;
  if (state.probe?.ok) enter(state, 'backfilling');
}

/** Counts rows written in the old shape only since the deploy signal; a failed probe waits for a new deploy. */
async function probe({ input, state, acts }: Pick<PhaseContext, 'input' | 'state' | 'acts'>): Promise<void> {
  const xidMark = state.deployed?.xidMark ?? '0';
  const result = await acts.scan.probeDualWrite({ ...ref(input), runId: checkpointRunId(input), xidMark });
  state.probe = { ok: result.badRows === 0, badRows: result.badRows, skipped: result.skipped, at: new Date().toISOString() };
  if (state.probe.ok && state.lastError?.startsWith('dual-write probe')) state.lastError = undefined; // its cause is fixed
  if (!state.probe.ok) {
    state.deployed = undefined;
    state.lastError =
      `dual-write probe: ${result.badRows} rows written after the deploy signal lack the new shape; ` +
      `deploy code that writes both shapes, then run "ferry deployed ${input.name}" again`;
    audit(state, { action: 'probe failed', by: 'ferry', detail: `${result.badRows} rows` }, new Date());
  }
}

/** Runs the backfill pass; on to verify when every partition is done. */
export async function backfilling(ctx: PhaseContext): Promise<PassOutcome> {
  ctx.state.waitingFor = undefined;
  startDeadline(ctx.input, ctx.state, Date.now());
  const outcome = await runBackfillPass(ctx.input, ctx.state, ctx.acts);
  if (outcome === 'done') enter(ctx.state, 'verifying');
  return outcome;
}

/** Starts a catch-up pass over rows still to do (cheap: `backfill.where` skips finished rows). */
function startCatchUp(state: MigrationState): void {
  state.backfill.pass += 1;
  state.backfill.partitionsLeft = undefined;
  state.backfill.done = false;
  state.catchUp = state.backfill.pass;
}

/** Wrong rows after a full catch-up pass: a retry would not help, so hold for a person. */
function caughtUpAlready(state: MigrationState): boolean {
  return state.catchUp === state.backfill.pass && state.backfill.done;
}

/** Counts wrong rows by key ranges. Wrong rows after a full pass get one catch-up, then a hold. */
export async function verifying({ input, state, acts }: PhaseContext): Promise<void> {
  const v = await acts.scan.verify({ ...ref(input), runId: checkpointRunId(input) });
  state.verify = { wrongRows: v.wrongRows, failedRows: v.failedRows, at: new Date().toISOString() };
  if (v.wrongRows === 0) {
    enter(state, 'cooling-off');
    return;
  }
  if (input.dualWrite === 'app' && state.deployed?.xidMark) {
    await probe({ input, state, acts });
    if (!state.probe?.ok) {
      startCatchUp(state);
      enter(state, 'awaiting-deploy');
      return;
    }
  }
  if (caughtUpAlready(state)) return holdForWrongRows(input, state, v.wrongRows);
  startCatchUp(state);
  enter(state, 'backfilling');
}

function holdForWrongRows(input: MigrationInput, state: MigrationState, wrong: number): void {
  state.paused = true;
  state.pauseReason = `verify found ${wrong} wrong rows after a catch-up pass`;
  state.lastError =
    `verify: ${wrong} rows of ${input.table} still match the verify predicate after a catch-up pass; ` +
    `check that backfill.set makes backfill.where false, fix the data or the definition, then run "ferry resume ${input.name}"`;
}

/**
 * The durable cool-off timer (`contract.after`, or `ferry start --cool-off`), re-verifying every
 * `verify.every` on the way (reverify.ts); then failed rows are re-run.
 */
export async function coolingOff(ctx: PhaseContext): Promise<PassOutcome | void> {
  const { input, state, recheckFailedRows } = ctx;
  if (!state.coolOffUntil) state.coolOffUntil = new Date(Date.now() + input.coolOffMs).toISOString();
  if (input.verifyEveryMs && patched(REVERIFY_PATCH)) {
    const step = await watchCoolOff(ctx);
    if (step === 'continue-as-new') return step;
    if (step !== 'over') return;
  } else {
    state.waitingFor = `the cool-off to end at ${state.coolOffUntil}`;
    publish(input, state);
    const left = Date.parse(state.coolOffUntil) - Date.now();
    if (left > 0) await condition(() => interrupted(state), left);
    if (Date.now() < Date.parse(state.coolOffUntil)) return;
  }
  state.waitingFor = undefined;
  if (patched(FAILED_ROWS_GATE) && knownFailedRows(state) > 0) {
    state.waitingFor = 'a re-run of the recorded failed rows';
    publish(input, state);
    const check = await recheckFailedRows('ferry');
    state.waitingFor = undefined;
    if (interrupted(state)) return; // an abort that came meanwhile must not find the migration contracting
    // Rows that still fail wait for a person even when contract.approval is off.
    if (unacceptedFailedRows(state, check.remaining) > 0) {
      enter(state, 'awaiting-approval'); // first: a forward move clears the last error
      holdForFailedRows(input, state, check);
      return;
    }
  }
  enter(state, input.approvalRequired ? 'awaiting-approval' : 'contracting');
}

/**
 * Waits for `approve` (which may have arrived earlier). With the failed-rows gate, an approval
 * that does not accept them re-runs the recorded failed rows first; while any still fail, the
 * approval is withdrawn and the migration keeps waiting, saying which query lists them.
 */
export async function awaitingApproval({ input, state, recheckFailedRows }: PhaseContext): Promise<void> {
  const gate = patched(FAILED_ROWS_GATE);
  const blocking = gate && state.failedRows && unacceptedFailedRows(state, state.failedRows.remaining) > 0;
  // Who may approve is said only when the definition limits it (so older runs replay the same text).
  const who = input.approval ? ` (contract.approval: ${describeApprovalRule(input.approval)})` : '';
  state.waitingFor = blocking ? failedRowsWaiting(input, state.failedRows!) : `approval: run "ferry approve ${input.name}"${who}`;
  publish(input, state);
  await condition(() => state.approved !== undefined || interrupted(state));
  if (!state.approved) return;
  if (gate && state.approved.acceptedFailedRows === undefined && knownFailedRows(state) > 0) {
    state.waitingFor = 'a re-run of the recorded failed rows before the contract';
    publish(input, state);
    const check = await recheckFailedRows('ferry');
    if (unacceptedFailedRows(state, check.remaining) > 0) return holdForFailedRows(input, state, check);
    if (interrupted(state)) return; // an abort that came meanwhile must not find the migration contracting
  }
  state.waitingFor = undefined;
  enter(state, 'contracting');
}

/** Re-verifies (catching up rows written in the old shape during the cool-off), then drops the old shape. */
export async function contracting(ctx: PhaseContext): Promise<PassOutcome | void> {
  const { input, state, acts } = ctx;
  if (!state.backfill.done) {
    state.waitingFor = 'a catch-up pass before the contract';
    const outcome = await runBackfillPass(input, state, acts);
    if (outcome !== 'done') return outcome;
  }
  const v = await acts.scan.verify({ ...ref(input), runId: checkpointRunId(input) });
  state.verify = { wrongRows: v.wrongRows, failedRows: v.failedRows, at: new Date().toISOString() };
  if (v.wrongRows > 0) {
    if (caughtUpAlready(state)) return holdForWrongRows(input, state, v.wrongRows);
    startCatchUp(state);
    return;
  }
  if (patched(FAILED_ROWS_GATE) && v.failedRows > 0 && unacceptedFailedRows(state, v.failedRows) > 0) {
    // Rows failed since the approval (a catch-up pass): re-run them; still failing, back to a person.
    state.waitingFor = 'a re-run of the recorded failed rows before the contract';
    publish(input, state);
    const check = await ctx.recheckFailedRows('ferry');
    if (unacceptedFailedRows(state, check.remaining) > 0) {
      enter(state, 'awaiting-approval'); // first: a forward move clears the last error
      holdForFailedRows(input, state, check);
      return;
    }
  }
  state.waitingFor = undefined;
  const result = await acts.ddl.contract(ref(input));
  audit(state, { action: 'contracted', by: 'ferry', detail: statementsDetail(result, 'contract.up') }, new Date());
  enter(state, 'completed');
}
