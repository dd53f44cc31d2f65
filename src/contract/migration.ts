/**
 * The data a migration workflow carries: its input (fixed at `ferry start`) and its state
 * (handed from run to run through continue-as-new). No secrets and no row data: the Web UI
 * shows all of it.
 */

import type { Phase } from './phases';

/** The phases moved to ./phases.ts (with the transition table); re-exported for older imports. */

/** Settings that tune a run. Durations are milliseconds; tests set them to seconds. */
export interface RunSettings {
  /** How long one backfill activity processes batches before it returns (default 2 minutes). */
  chunkMs: number;
  /** Heartbeat timeout of long activities: how fast a dead worker is noticed (default 30 s). */
  heartbeatTimeoutMs: number;
  /** How long the dual-write probe lets the application write after the deploy signal (default 1 minute). */
  probeWindowMs: number;
  /** Continue-as-new once a run's history has this many events (default 2,000; the server suggests it at 4,096). */
  historyLimit: number;
}

/** What `ferry start` hands the workflow. */
export interface MigrationInput {
  name: string;
  /** The table as `"schema"."name"`. */
  table: string;
  specHash: string;
  dualWrite: 'app' | 'trigger';
  coolOffMs: number;
  approvalRequired: boolean;
  maxFailedRows: number;
  concurrency: number;
  /** Finish the backfill within this long after it starts (`backfill.deadline`, `ferry start --deadline`). */
  deadlineMs?: number;
  startedBy: string;
  settings: RunSettings;
  /**
   * Continue the backfill of an earlier run that was cancelled, terminated or failed: its
   * checkpoints and failed rows are keyed by that run's id (set by `ferry start`; absent in
   * migrations started before 0.2 and in fresh starts, which key them by their own first run id).
   */
  resumeFrom?: { runId: string; status: string; phase: string };
  /** The definition's `unsafe` overrides of the dangerous-DDL checks, with the author's reasons (audit trail). */
  unsafe?: { check: string; reason: string }[];
}

/** One line of the audit trail: who did what, when. */
export interface AuditEntry {
  at: string;
  action: string;
  by: string;
  detail?: string;
}

/** Backfill counters, summed over partitions and runs. */
export interface BackfillCounters {
  rowsScanned: number;
  rowsUpdated: number;
  rowsFailed: number;
  batches: number;
  /** Time spent inside backfill activities, for the rate. */
  activeMs: number;
  /** Rows per second over the most recent chunks. */
  recentRate: number;
  done: boolean;
  /** 1 for the first pass; a catch-up before contract starts pass 2, and so on. */
  pass: number;
  /** Partitions of this pass not finished yet; unset until the pass is initialised. */
  partitionsLeft?: number[];
  /** Time the chunks waited for the database to be healthy, and the last reason. */
  throttledMs?: number;
  throttleReason?: string;
  /** The adaptive batch size the chunks last used. */
  batchSize?: number;
  /** The batch size is fixed (`minBatchSize` = `maxBatchSize`), not adaptive; from the chunks' results. */
  batchSizeFixed?: boolean;
  /** Deadline mode: when the backfill must be done, and whether it still can be. */
  deadline?: DeadlineState;
  /** `ferry finalize`: run the rest now, without deadline pacing (health checks still apply). */
  finalized?: { by: string; at: string };
}

/** Deadline mode's view of the backfill. */
export interface DeadlineState {
  at: string;
  /** Rows per second needed to finish on time, as of the last round. */
  neededRowsPerSec: number;
  onTrack: boolean;
  /** Set once the deadline passed with rows left. */
  missed?: boolean;
  note?: string;
}

/** What the last re-run of the recorded failed rows found: counts, and the query that lists the rows. */
export interface FailedRowsCheck {
  /** Rows that still fail. */
  remaining: number;
  /** Rows fixed by the last re-run. */
  fixed: number;
  at: string;
  /** `SELECT * FROM ferry.failed_rows WHERE migration = '…' AND run_id = '…'` (names only, no row data). */
  query: string;
}

/** Everything the workflow knows; continue-as-new passes it to the next run. */
export interface MigrationState {
  phase: Phase;
  paused: boolean;
  pauseReason?: string;
  rowsEstimated: number;
  backfill: BackfillCounters;
  deployed?: { by: string; at: string; xidMark?: string };
  probe?: { ok: boolean; badRows: number; skipped?: boolean; at: string };
  verify?: { wrongRows: number; failedRows: number; at: string };
  coolOffUntil?: string;
  /** With `acceptedFailedRows`: approved with `--accept-failed-rows` while that many rows still failed. */
  approved?: { by: string; at: string; acceptedFailedRows?: number };
  /** The last re-run of the recorded failed rows (before the contract, on approve, `ferry retry-failed`). */
  failedRows?: FailedRowsCheck;
  abort?: { by: string; reason: string; rollback: boolean; at: string };
  /** Temporal cancelled the workflow (`temporal workflow cancel`, the Web UI); the schema stayed as it was. */
  cancelled?: { by: string; at: string };
  /** The pass started as a catch-up after verify found wrong rows; wrong rows after it hold the migration. */
  catchUp?: number;
  lastError?: string;
  waitingFor?: string;
  audit: AuditEntry[];
}
