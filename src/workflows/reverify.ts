/**
 * Verification that keeps watching (new in 0.3, behind `patched(REVERIFY_PATCH)`): through the
 * cool-off, verify runs again every `verify.every`. Wrong rows found then (drift: rows written in
 * the old shape since the last verify) start a catch-up pass, the backfill again over the rows
 * `backfill.where` still selects, then verify once more: none left, the cool-off goes on; some
 * left, the migration holds for a person. Each step is one call from `coolingOff`, which returns
 * to the main loop in between (pause, abort, continue-as-new).
 */
import { condition, upsertMemo } from '@temporalio/workflow';
import { formatDuration } from '../contract/duration';
import type { MigrationInput, MigrationState, ReverifyState } from '../contract/migration';
import { VERIFY_MEMO, type VerifyMemo } from '../contract/progress';
import type { Activities } from './activities';
import { checkpointRunId, runBackfillPass } from './backfill';
import { audit } from './state';
import { publish } from './ui';

export const REVERIFY_PATCH = 'reverify-cool-off';

/** What one step of the watched cool-off came to. */
export type WatchStep = 'over' | 'again' | 'interrupted' | 'continue-as-new';

interface Ctx {
  input: MigrationInput;
  state: MigrationState;
  acts: Activities;
}

const interrupted = (s: MigrationState) => s.paused || s.abort !== undefined;

/**
 * One step of the watched cool-off: finish a catch-up pass a drift started, or wait for the next
 * re-verify (or the end of the cool-off) and run it.
 * @example const step = await watchCoolOff(ctx); if (step !== 'over') return;
 */
export async function watchCoolOff(ctx: Ctx): Promise<WatchStep> {
  const { input, state } = ctx;
  const rv = (state.reverify ??= { everyMs: input.verifyEveryMs!, checks: 0, drifts: 0, driftRows: 0 });
  if (rv.catchingUp !== undefined) return catchUp(ctx, rv);
  const until = Date.parse(state.coolOffUntil!);
  rv.nextAt ??= new Date(Date.now() + rv.everyMs).toISOString();
  const next = Date.parse(rv.nextAt);
  const nextText = next < until ? `next at ${rv.nextAt}` : 'next at the contract';
  state.waitingFor = `the cool-off to end at ${state.coolOffUntil} (re-verified every ${formatDuration(rv.everyMs)}, ${nextText})`;
  publish(input, state);
  const wakeAt = Math.min(next, until);
  if (wakeAt > Date.now()) await condition(() => interrupted(state), wakeAt - Date.now());
  if (interrupted(state)) return 'interrupted';
  if (Date.now() >= until) return 'over';
  await reverify(ctx, rv);
  return 'again';
}

/** The scheduled re-verify; drift starts a catch-up pass (the next step runs it). */
async function reverify({ input, state, acts }: Ctx, rv: ReverifyState): Promise<void> {
  state.waitingFor = 'the scheduled re-verify';
  publish(input, state);
  const wrong = await verifyNow({ input, state, acts }, rv);
  rv.nextAt = new Date(Date.now() + rv.everyMs).toISOString();
  if (wrong > 0) {
    rv.drifts += 1;
    rv.driftRows += wrong;
    const b = state.backfill;
    b.pass += 1; // a catch-up pass, like verify's; not counted as verify's one catch-up (state.catchUp)
    b.partitionsLeft = undefined;
    b.done = false;
    rv.catchingUp = b.pass;
    audit(
      state,
      { action: 'drift', by: 'ferry', detail: `the scheduled re-verify found ${wrong} wrong rows; catch-up pass ${b.pass} starts` },
      new Date(),
    );
  }
  publishMemo(rv);
}

/** Runs (or continues) the catch-up pass of a drift, then verifies: caught up, or hold for a person. */
async function catchUp(ctx: Ctx, rv: ReverifyState): Promise<WatchStep> {
  const { input, state, acts } = ctx;
  state.waitingFor = `catch-up pass ${rv.catchingUp}: the re-verify at ${rv.lastAt} found ${rv.lastWrongRows} wrong rows`;
  publish(input, state);
  const outcome = await runBackfillPass(input, state, acts);
  if (outcome !== 'done') return outcome;
  const wrong = await verifyNow(ctx, rv);
  const pass = rv.catchingUp;
  rv.catchingUp = undefined;
  publishMemo(rv);
  if (wrong > 0) {
    state.paused = true;
    state.pauseReason = `verify found ${wrong} wrong rows after the catch-up pass of a drift in the cool-off`;
    state.lastError =
      `verify: ${wrong} rows of ${input.table} still match the verify predicate after catch-up pass ${pass}; something still ` +
      `writes the old shape: check the application's writes and backfill.set, then run "ferry resume ${input.name}"`;
    audit(state, { action: 'drift not caught up', by: 'ferry', detail: `${wrong} wrong rows after catch-up pass ${pass}` }, new Date());
    return 'interrupted';
  }
  audit(state, { action: 'caught up', by: 'ferry', detail: `catch-up pass ${pass}: verify finds no wrong rows` }, new Date());
  return 'again';
}

async function verifyNow({ input, state, acts }: Ctx, rv: ReverifyState): Promise<number> {
  const v = await acts.scan.verify({ name: input.name, specHash: input.specHash, runId: checkpointRunId(input) });
  const at = new Date().toISOString();
  state.verify = { wrongRows: v.wrongRows, failedRows: v.failedRows, at };
  rv.checks += 1;
  rv.lastAt = at;
  rv.lastWrongRows = v.wrongRows;
  return v.wrongRows;
}

/** The re-verify counters in the memo (counts only): the Web UI shows them without a worker. */
function publishMemo(rv: ReverifyState): void {
  const memo: VerifyMemo = {
    checks: rv.checks,
    lastWrongRows: rv.lastWrongRows ?? 0,
    drifts: rv.drifts,
    driftRows: rv.driftRows,
    ...(rv.lastAt ? { lastAt: rv.lastAt } : {}),
  };
  upsertMemo({ [VERIFY_MEMO]: memo });
}
