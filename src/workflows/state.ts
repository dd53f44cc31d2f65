/** Pure helpers over the workflow's state: the initial state and the audit trail. */
import type { AuditEntry, MigrationInput, MigrationState, Phase } from '../contract/migration';

const AUDIT_LIMIT = 500;

/** The state a brand-new migration starts in. */
export function initialState(input: MigrationInput, now: Date): MigrationState {
  return {
    phase: 'expanding',
    paused: false,
    rowsEstimated: 0,
    backfill: { rowsScanned: 0, rowsUpdated: 0, rowsFailed: 0, batches: 0, activeMs: 0, recentRate: 0, done: false, pass: 1 },
    audit: [{ at: now.toISOString(), action: 'started', by: input.startedBy, detail: `spec ${input.specHash}` }],
  };
}

/** Appends to the audit trail, keeping the newest entries. */
export function audit(state: MigrationState, entry: Omit<AuditEntry, 'at'>, now: Date): void {
  state.audit.push({ at: now.toISOString(), ...entry });
  if (state.audit.length > AUDIT_LIMIT) state.audit.splice(0, state.audit.length - AUDIT_LIMIT);
}

/** Can an operator still abort in this phase? */
export function canAbort(phase: Phase): boolean {
  return !['contracting', 'completed', 'aborted', 'failed'].includes(phase);
}
