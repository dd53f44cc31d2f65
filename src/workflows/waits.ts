/**
 * The wait before expand (new in 0.3, behind `patched(WAITS_PATCH)`): a migration does not expand
 * until the migrations of its `after` have completed (or reached the named phase), nor while a
 * migration started earlier runs whose DDL changes the same table's columns. `checkTurn` looks;
 * this loop asks again, sooner at first and then every `settings.waitPollMs` (default 1 minute),
 * and says what it waits for (`state.waitingFor`, `state.waits`).
 */
import { condition, workflowInfo } from '@temporalio/workflow';
import type { Activities } from './activities';
import { historyIsLong } from './backfill';
import { audit } from './state';
import { publish } from './ui';
import type { MigrationInput, MigrationState, Wait } from '../contract/migration';

export const WAITS_PATCH = 'migration-waits';

/** The first re-check comes after this long; each next one after twice as long, up to `waitPollMs`. */
const FIRST_POLL_MS = 1000;
const DEFAULT_POLL_MS = 60_000;

/** How the wait ended: the migration may expand, was paused or aborted, or its history is long. */
export type TurnOutcome = 'ready' | 'interrupted' | 'continue-as-new';

/**
 * Waits until the migration may expand. Returns early (to the main loop) when it is paused or
 * aborted, or to continue-as-new.
 * @example if ((await waitTurn(input, state, acts)) !== 'ready') return;
 */
export async function waitTurn(input: MigrationInput, state: MigrationState, acts: Activities): Promise<TurnOutcome> {
  const w = (state.waits ??= { since: new Date().toISOString(), waits: [], checks: 0 });
  if (w.readyAt) return 'ready';
  const interrupted = () => state.paused || state.abort !== undefined;
  const info = workflowInfo();
  for (;;) {
    if (interrupted()) return 'interrupted';
    const turn = await acts.short.checkTurn({ name: input.name, specHash: input.specHash, workflowId: info.workflowId });
    w.checks += 1;
    if (turn.ready) return ready(input, state);
    if (changed(w.waits, turn.waits)) {
      audit(state, { action: 'waiting', by: 'ferry', detail: turn.waits.map((x) => x.detail).join('; ') }, new Date());
    }
    w.waits = turn.waits;
    state.waitingFor = waitingText(turn.waits);
    publish(input, state);
    const cap = input.settings.waitPollMs ?? DEFAULT_POLL_MS;
    await condition(interrupted, Math.min(cap, FIRST_POLL_MS * 2 ** Math.min(w.checks - 1, 20)));
    if (historyIsLong(input)) return 'continue-as-new';
  }
}

function ready(input: MigrationInput, state: MigrationState): TurnOutcome {
  const w = state.waits!;
  w.readyAt = new Date().toISOString();
  if (w.waits.length > 0) {
    audit(
      state,
      { action: 'done waiting', by: 'ferry', detail: `for ${w.waits.map((x) => `"${x.migration}"`).join(', ')} since ${w.since}` },
      new Date(),
    );
  }
  w.waits = [];
  state.waitingFor = undefined;
  publish(input, state);
  return 'ready';
}

/** What `status` and the Web UI say while the migration waits. */
export function waitingText(waits: Wait[]): string {
  return `before expand: ${waits.map((w) => w.detail).join('; ')}`;
}

function changed(before: Wait[], now: Wait[]): boolean {
  const key = (ws: Wait[]) => ws.map((w) => `${w.reason}:${w.migration}`).join(',');
  return key(before) !== key(now);
}

/** Did the migration wait before expand and never expand (an abort then has nothing to roll back)? */
export function neverExpanded(state: MigrationState): boolean {
  return state.phase === 'expanding' && state.waits !== undefined && state.waits.readyAt === undefined;
}
