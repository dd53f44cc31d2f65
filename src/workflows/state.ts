/** Pure helpers over the workflow's state: the initial state, the audit trail, the progress. */
import type { AuditEntry, MigrationInput, MigrationState, Phase, Progress } from '../contract/migration';

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

/** What `ferry status` shows: counters, rate and an honest ETA. */
export function progressOf(input: MigrationInput, state: MigrationState): Progress {
  const b = state.backfill;
  const estimated = Math.max(state.rowsEstimated, b.rowsScanned);
  const remaining = b.done ? 0 : Math.max(estimated - b.rowsScanned, 0);
  const rate = b.recentRate > 0 ? b.recentRate : b.activeMs > 0 ? (b.rowsScanned * 1000) / b.activeMs : 0;
  return {
    name: input.name,
    table: input.table,
    phase: state.phase,
    paused: state.paused,
    pauseReason: state.pauseReason,
    waitingFor: state.waitingFor,
    rowsDone: b.rowsScanned,
    rowsUpdated: b.rowsUpdated,
    rowsEstimated: estimated,
    rowsFailed: b.rowsFailed,
    percent: b.done ? 100 : estimated > 0 ? Math.min(99.9, (100 * b.rowsScanned) / estimated) : 0,
    rowsPerSecond: Math.round(rate),
    etaSeconds: b.done ? 0 : rate > 0 ? Math.ceil(remaining / rate) : null,
    batchSize: b.batchSize,
    throttledSeconds: Math.round((b.throttledMs ?? 0) / 1000),
    throttleReason: b.throttleReason,
    deadline: b.deadline,
    finalized: b.finalized,
    deployed: state.deployed !== undefined,
    probe: state.probe,
    verify: state.verify,
    coolOffUntil: state.coolOffUntil,
    approved: state.approved,
    abort: state.abort,
    lastError: state.lastError,
  };
}
