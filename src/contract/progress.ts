/**
 * A migration's progress: the `progress` query's answer, computed here once (by the workflow, and
 * by the CLI when it adds the rows of chunks still running) and rendered here once, as labelled
 * lines that the Web UI's markdown and `ferry status` both print.
 */
import { formatDuration } from './duration';
import type { StatementsRun } from './activities';
import type { BackfillCounters, DeadlineState, MigrationInput, MigrationState, Wait } from './migration';
import { isFinal, type Phase } from './phases';

/** What the `progress` query returns: the status an operator reads. */
export interface Progress {
  name: string;
  table: string;
  phase: Phase;
  paused: boolean;
  pauseReason?: string;
  waitingFor?: string;
  rowsDone: number;
  rowsUpdated: number;
  rowsEstimated: number;
  rowsFailed: number;
  percent: number;
  rowsPerSecond: number;
  etaSeconds: number | null;
  batchSize?: number;
  /** The batch size is fixed (`minBatchSize` = `maxBatchSize`), not adaptive. */
  batchSizeFixed?: boolean;
  throttledSeconds: number;
  throttleReason?: string;
  deadline?: DeadlineState;
  finalized?: BackfillCounters['finalized'];
  deployed: boolean;
  probe?: MigrationState['probe'];
  verify?: MigrationState['verify'];
  /** The cool-off's scheduled re-verifies (`verify.every`): when, what they found, drift caught up. */
  reverify?: MigrationState['reverify'];
  /** What it waits for before expand (`after`, the same table's columns), while it waits. */
  waits?: Wait[];
  coolOffUntil?: string;
  approved?: MigrationState['approved'];
  failedRows?: MigrationState['failedRows'];
  abort?: MigrationState['abort'];
  cancelled?: MigrationState['cancelled'];
  lastError?: string;
  /**
   * Set when no worker answered and the counters are the last ones the workflow published (its
   * memo): when they were published and how long ago.
   */
  asOf?: { at: string; ageSeconds: number };
}

/** The numbers behind the backfill line: rows done of an estimate, at a rate. */
export interface RowCounts {
  rowsDone: number;
  rowsEstimated: number;
  /** Rows per second, 0 when unknown. */
  rate: number;
  /** The backfill has finished. */
  done: boolean;
  /** Nothing moves now (paused, aborted, failed, completed, or past the backfill): no rate and no ETA. */
  stopped?: boolean;
}

/**
 * Percent, estimate, rate and an honest ETA from counts: the estimate never falls below what was
 * done, an unfinished backfill never shows 100%, no rate means no ETA, and a stopped one has neither.
 * @example rowMath({ rowsDone: 50, rowsEstimated: 100, rate: 10, done: false }).etaSeconds // 5
 * @example rowMath({ rowsDone: 50, rowsEstimated: 100, rate: 10, done: false, stopped: true }).etaSeconds // null
 */
export function rowMath(c: RowCounts): Pick<Progress, 'rowsDone' | 'rowsEstimated' | 'percent' | 'rowsPerSecond' | 'etaSeconds'> {
  const estimated = Math.max(c.rowsEstimated, c.rowsDone);
  const remaining = c.done ? 0 : Math.max(estimated - c.rowsDone, 0);
  return {
    rowsDone: c.rowsDone,
    rowsEstimated: estimated,
    percent: c.done ? 100 : estimated > 0 ? Math.min(99.9, (100 * c.rowsDone) / estimated) : 0,
    rowsPerSecond: c.stopped ? 0 : Math.round(c.rate),
    etaSeconds: c.stopped ? null : c.done ? 0 : c.rate > 0 ? Math.ceil(remaining / c.rate) : null,
  };
}

/**
 * What `ferry status` shows: counters, rate and an honest ETA, from the workflow's state. A
 * migration that ended is not paused, and only a running backfill has a rate and an ETA.
 */
export function progressOf(input: Pick<MigrationInput, 'name' | 'table'>, state: MigrationState): Progress {
  const b = state.backfill;
  const rate = b.recentRate > 0 ? b.recentRate : b.activeMs > 0 ? (b.rowsScanned * 1000) / b.activeMs : 0;
  const ended = isFinal(state.phase);
  const paused = state.paused && !ended;
  const stopped = paused || ended || b.done || state.abort !== undefined;
  return {
    name: input.name,
    table: input.table,
    phase: state.phase,
    paused,
    ...(paused ? { pauseReason: state.pauseReason } : {}),
    waitingFor: state.waitingFor,
    ...rowMath({ rowsDone: b.rowsScanned, rowsEstimated: state.rowsEstimated, rate, done: b.done, stopped }),
    rowsUpdated: b.rowsUpdated,
    rowsFailed: b.rowsFailed,
    batchSize: b.batchSize,
    ...(b.batchSizeFixed ? { batchSizeFixed: true } : {}),
    throttledSeconds: Math.round((b.throttledMs ?? 0) / 1000),
    throttleReason: b.throttleReason,
    deadline: b.deadline,
    finalized: b.finalized,
    deployed: state.deployed !== undefined,
    probe: state.probe,
    verify: state.verify,
    ...(state.reverify ? { reverify: state.reverify } : {}),
    ...(state.waits?.waits.length && !ended ? { waits: state.waits.waits } : {}),
    coolOffUntil: state.coolOffUntil,
    approved: state.approved,
    failedRows: state.failedRows,
    abort: state.abort,
    ...(state.cancelled ? { cancelled: state.cancelled } : {}),
    lastError: state.lastError,
  };
}

/** The memo key under which the workflow keeps its last row counters (`ferry status` without a worker). */
export const PROGRESS_MEMO = 'ferryProgress';

/** The memo's counters (counts only: the Web UI shows the memo) and when they were published. */
export interface ProgressMemo {
  rowsDone: number;
  rowsUpdated: number;
  rowsEstimated: number;
  rowsFailed: number;
  at: string;
}

/** The memo key under which the workflow keeps the counts of its scheduled re-verifies (the Web UI shows it). */
export const VERIFY_MEMO = 'ferryVerify';

/** The re-verify counts in the memo: how many, the last one's wrong rows, drifts and their rows. */
export interface VerifyMemo {
  checks: number;
  lastWrongRows: number;
  drifts: number;
  driftRows: number;
  lastAt?: string;
}

/** Rows done by chunks still running (from their heartbeats), not yet in the workflow's counters. */
export interface InFlightRows {
  rows: number;
  updated: number;
  /** Rows per second of the running chunks, for the ETA before the first chunk has returned. */
  rate: number;
}

/**
 * The progress with the rows of running chunks added: the workflow's counters move once per
 * chunk, heartbeats once per batch.
 * @example withInFlight(progress, { rows: 500, updated: 480, rate: 1000 })
 */
export function withInFlight(p: Progress, live: InFlightRows): Progress {
  if (live.rows === 0 || p.percent >= 100) return p;
  const stopped = p.paused || isFinal(p.phase) || p.abort !== undefined;
  const rate = p.rowsPerSecond || live.rate;
  const counts = rowMath({ rowsDone: p.rowsDone + live.rows, rowsEstimated: p.rowsEstimated, rate, done: false, stopped });
  return { ...p, ...counts, rowsUpdated: p.rowsUpdated + live.updated, etaSeconds: counts.etaSeconds ?? p.etaSeconds };
}

/**
 * The query that lists a run's recorded failed rows, as ferry prints it (names only, no row data).
 * @example failedRowsQuery('posts-uuid', 'a1b2') // SELECT * FROM ferry.failed_rows WHERE migration = 'posts-uuid' AND run_id = 'a1b2'
 */
export function failedRowsQuery(name: string, runId: string): string {
  const q = (v: string) => `'${v.replace(/'/g, "''")}'`;
  return `SELECT * FROM ferry.failed_rows WHERE migration = ${q(name)} AND run_id = ${q(runId)}`;
}

/** One line of a rendered progress: a short label and its text. */
export interface ProgressLine {
  label: string;
  text: string;
  /** Worth drawing attention to (bold in the Web UI). */
  alert?: boolean;
}

const n = (v: number) => v.toLocaleString('en-US');

/**
 * The lines of a progress, in the order people read them; the one rendering behind the Web UI's
 * details (`workflows/ui.ts`) and `ferry status` (`cli/output.ts`).
 * @example progressLines(p).map((l) => `${l.label}: ${l.text}`)
 */
export function progressLines(p: Progress): ProgressLine[] {
  const lines: ProgressLine[] = [];
  const add = (label: string, text: string, alert?: boolean) => lines.push(alert ? { label, text, alert } : { label, text });
  if (p.paused) add('paused', `${p.pauseReason ?? 'no reason given'}; resume with "ferry resume ${p.name}"`, true);
  if (p.waitingFor) add('waiting', p.waitingFor, true);
  const rate = p.rowsPerSecond ? `, ${n(p.rowsPerSecond)} rows/s` : '';
  const eta = p.etaSeconds ? `, ETA ${formatDuration(p.etaSeconds * 1000)}` : '';
  const asOf = p.asOf ? ` (last known, as of ${p.asOf.at}, ${formatDuration(p.asOf.ageSeconds * 1000)} ago)` : '';
  add(
    'backfill',
    `${n(p.rowsDone)} / ~${n(p.rowsEstimated)} rows (${p.percent.toFixed(1)}%), ${n(p.rowsUpdated)} changed${rate}${eta}${asOf}`,
  );
  if (p.batchSize) add('batches', `${n(p.batchSize)} rows each (${p.batchSizeFixed ? 'fixed' : 'adaptive'})`);
  if (p.throttledSeconds || p.throttleReason) {
    // The reason first ("throttled: latency p99 4.1 ms > budget 3 ms"): it says why the backfill is slow.
    const total = `${formatDuration(p.throttledSeconds * 1000)} in all`;
    add('throttled', p.throttleReason ? `${p.throttleReason} (the last reason; ${total})` : total);
  }
  if (p.deadline) {
    const d = p.deadline;
    add('deadline', `${d.at}, needs ${d.neededRowsPerSec} rows/s: ${d.onTrack ? 'on track' : `AT RISK: ${d.note ?? ''}`}`, !d.onTrack);
  }
  if (p.finalized) add('finalized', `by ${p.finalized.by} at ${p.finalized.at} (no pacing)`);
  if (p.failedRows) {
    const f = p.failedRows;
    const next =
      f.remaining > 0
        ? `; fix them, then "ferry retry-failed ${p.name}" (or "ferry approve ${p.name} --accept-failed-rows"): ${f.query}`
        : '';
    add('failed', `${n(f.remaining)} rows still fail (last re-run at ${f.at}: ${n(f.fixed)} fixed)${next}`, f.remaining > 0);
  } else if (p.rowsFailed) add('failed', `${n(p.rowsFailed)} rows skipped (see ferry.failed_rows)`, true);
  if (p.probe) add('probe', p.probe.ok ? 'ok' : `${p.probe.badRows} rows written after the deploy signal lack the new shape`, !p.probe.ok);
  if (p.verify) add('verify', `${p.verify.wrongRows} wrong rows, ${p.verify.failedRows} recorded failed rows`, p.verify.wrongRows > 0);
  if (p.reverify) add('re-verify', reverifyText(p.reverify), p.reverify.catchingUp !== undefined);
  if (p.coolOffUntil) add('contract', `not before ${p.coolOffUntil}`);
  if (p.approved) {
    const accepted = p.approved.acceptedFailedRows ? ` (accepting ${n(p.approved.acceptedFailedRows)} failed rows)` : '';
    add('approved', `by ${p.approved.by} at ${p.approved.at}${accepted}`);
  }
  if (p.abort) add('aborted', `by ${p.abort.by}: ${p.abort.reason}${p.abort.rollback ? ' (rollback)' : ''}`, true);
  if (p.cancelled) {
    add(
      'cancelled',
      `by ${p.cancelled.by} at ${p.cancelled.at}; the schema stays as it is. Next: "ferry start ${p.name}" resumes from the ` +
        `checkpoints, or "ferry abort ${p.name} --rollback" removes what expand added`,
      true,
    );
  }
  if (p.lastError) add('error', p.lastError, true);
  return lines;
}

/**
 * The re-verify line: how often, the last one, drift caught up so far.
 * @example reverifyText({ everyMs: 21600000, checks: 3, drifts: 1, driftRows: 12, lastAt: 'T', lastWrongRows: 0 })
 */
export function reverifyText(r: NonNullable<Progress['reverify']>): string {
  const last = r.lastAt ? `; last at ${r.lastAt}: ${n(r.lastWrongRows ?? 0)} wrong rows` : '';
  const drift = r.drifts ? `; drift found ${r.drifts} times (${n(r.driftRows)} wrong rows in all)` : '; no drift';
  const now = r.catchingUp !== undefined ? `; DRIFT: catch-up pass ${r.catchingUp} running` : '';
  return `every ${formatDuration(r.everyMs)}, ${n(r.checks)} so far${last}${drift}${now}`;
}

/**
 * The audit trail's account of a DDL activity: the author's statements apart from those ferry ran
 * for its own trigger (results of older workers, without the split, say only the total).
 * @example statementsDetail({ statements: 3, retries: 0, triggerStatements: 2 }, 'contract.up') // "1 statement of contract.up (+2 for ferry's trigger)"
 */
export function statementsDetail(run: StatementsRun, field: string): string {
  const plural = (k: number, what: string) => `${k} ${what}${k === 1 ? '' : 's'}`;
  if (run.triggerStatements === undefined) return plural(run.statements, 'statement');
  const own = run.statements - run.triggerStatements;
  const trigger = run.triggerStatements > 0 ? ` (+${run.triggerStatements} for ferry's trigger)` : '';
  return `${plural(own, 'statement')} of ${field}${trigger}`;
}
