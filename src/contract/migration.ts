/**
 * The data a migration workflow carries: its input (fixed at `ferry start`) and its state
 * (handed from run to run through continue-as-new). No secrets and no row data: the Web UI
 * shows all of it.
 */

import type { Phase } from './phases';
import type { ApprovalRule } from './approval';

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
  /**
   * How often a migration waiting for others (`after`, a table's columns) checks again, at most
   * (`FERRY_WAIT_POLL`, default 1 minute; the first checks come sooner). Absent in older inputs.
   */
  waitPollMs?: number;
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
  /**
   * Re-verify this often during the cool-off (`verify.every`, default 6 hours); 0 or absent
   * (migrations started before 0.3): verify only before the cool-off and at the contract.
   */
  verifyEveryMs?: number;
  startedBy: string;
  /** The identity of the credentials that started it (src/client/identity.ts); absent before 0.3. */
  startedIdentity?: string;
  /** Who may approve (`contract.approval` as an object); absent: anyone who can reach the namespace. */
  approval?: ApprovalRule;
  settings: RunSettings;
  /**
   * Continue the backfill of an earlier run that was cancelled, terminated or failed: its
   * checkpoints and failed rows are keyed by that run's id (set by `ferry start`; absent in
   * migrations started before 0.2 and in fresh starts, which key them by their own first run id).
   */
  resumeFrom?: { runId: string; status: string; phase: string };
  /**
   * ferry's search attributes the namespace lacked at start (the client checks): the workflow does
   * not upsert them (an unknown attribute fails every workflow task) and mirrors them in its memo.
   * Absent when all exist, and in migrations started before 0.2 (which upsert all).
   */
  missingSearchAttributes?: string[];
  /** The definition's `unsafe` overrides of the dangerous-DDL checks, with the author's reasons (audit trail). */
  unsafe?: { check: string; reason: string }[];
}

/** One line of the audit trail: who did what, when. */
export interface AuditEntry {
  at: string;
  action: string;
  by: string;
  /** The caller's identity from its credentials, beside the `by` it typed (absent before 0.3). */
  identity?: string;
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
  approved?: { by: string; identity?: string; at: string; acceptedFailedRows?: number };
  /** The last re-run of the recorded failed rows (before the contract, on approve, `ferry retry-failed`). */
  failedRows?: FailedRowsCheck;
  abort?: { by: string; reason: string; rollback: boolean; at: string };
  /** Temporal cancelled the workflow (`temporal workflow cancel`, the Web UI); the schema stayed as it was. */
  cancelled?: { by: string; at: string };
  /** The pass started as a catch-up after verify found wrong rows; wrong rows after it hold the migration. */
  catchUp?: number;
  /** The scheduled re-verifies of the cool-off (`verify.every`); absent before the first one is planned. */
  reverify?: ReverifyState;
  /** The wait before expand for other migrations (`after`, the same table's columns); absent in older runs. */
  waits?: WaitState;
  lastError?: string;
  waitingFor?: string;
  audit: AuditEntry[];
}

/** What the cool-off's scheduled re-verifies found (`verify.every`). */
export interface ReverifyState {
  everyMs: number;
  /** When the next re-verify runs. */
  nextAt?: string;
  /** Re-verifies run so far, and the last one's time and count of wrong rows. */
  checks: number;
  lastAt?: string;
  lastWrongRows?: number;
  /** Re-verifies that found wrong rows (drift), and the wrong rows they found in all. */
  drifts: number;
  driftRows: number;
  /** The catch-up pass a drift started, until it is over and verified. */
  catchingUp?: number;
}

/** One thing a migration waits for before it expands. */
export interface Wait {
  /** The migration waited for. */
  migration: string;
  /** `after`: named in the definition's `after`; `columns`: it runs and changes the same table's columns. */
  reason: 'after' | 'columns';
  /** What it waits for, in words, with the next step when there is one. */
  detail: string;
}

/** The wait before expand: since when, for what now, and when it ended. */
export interface WaitState {
  since: string;
  waits: Wait[];
  /** Set when nothing was left to wait for: the migration went on to expand. */
  readyAt?: string;
  /** Checks made (each one an activity). */
  checks: number;
}
