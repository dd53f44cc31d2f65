/** Pure helpers over the workflow's state: the initial state, phase changes, the audit trail. */
import type { AuditEntry, MigrationInput, MigrationState } from '../contract/migration';
import { TRANSITIONS, transition, type Phase } from '../contract/phases';

const AUDIT_LIMIT = 500;

/** The state a brand-new migration starts in. */
export function initialState(input: MigrationInput, now: Date): MigrationState {
  return {
    phase: 'expanding',
    paused: false,
    rowsEstimated: 0,
    backfill: { rowsScanned: 0, rowsUpdated: 0, rowsFailed: 0, batches: 0, activeMs: 0, recentRate: 0, done: false, pass: 1 },
    audit: [
      {
        at: now.toISOString(),
        action: 'started',
        by: input.startedBy,
        ...(input.startedIdentity ? { identity: input.startedIdentity } : {}),
        detail: `spec ${input.specHash}`,
      },
      ...(input.unsafe ?? []).map((u) => ({
        at: now.toISOString(),
        action: 'unsafe DDL allowed',
        by: input.startedBy,
        detail: `${u.check}: ${u.reason}`,
      })),
    ],
  };
}

/** Appends to the audit trail, keeping the newest entries. */
export function audit(state: MigrationState, entry: Omit<AuditEntry, 'at'>, now: Date): void {
  state.audit.push({ at: now.toISOString(), ...entry });
  if (state.audit.length > AUDIT_LIMIT) state.audit.splice(0, state.audit.length - AUDIT_LIMIT);
}

/**
 * A move the transition table does not allow: a bug in the workflow code. It is a plain Error, not
 * an ApplicationFailure, so it fails the workflow task (not the migration): Temporal retries the
 * task, and a worker with the fix replays the history and goes on.
 */
export class IllegalTransitionError extends Error {
  override readonly name = 'IllegalTransitionError';
}

/**
 * Moves the migration to phase `to`; the only way the workflow changes `state.phase`. Throws
 * `IllegalTransitionError` when `TRANSITIONS` (src/contract/phases.ts) has no such edge. A forward
 * move clears `lastError`: the phase it belonged to has now succeeded.
 * @example enter(state, 'verifying') // from backfilling
 */
export function enter(state: MigrationState, to: Phase): void {
  if (!transition(state.phase, to)) {
    const legal = TRANSITIONS.filter((t) => t.from === state.phase).map((t) => t.to);
    throw new IllegalTransitionError(
      `illegal phase transition ${state.phase} → ${to}; from ${state.phase} the table allows ${legal.join(', ') || 'nothing'} (src/contract/phases.ts)`,
    );
  }
  if (transition(state.phase, to)?.kind === 'forward') state.lastError = undefined;
  state.phase = to;
}
