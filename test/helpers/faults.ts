/**
 * The fault suite's checks and results (test/faults): the exact end state every scenario must
 * reach, and one row per scenario in `.ferry/fault-results.json`, from which
 * `scripts/reliability-report.ts` writes docs/reliability.md.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Pool } from 'pg';
import { updateCounts } from './fixtures';
import type { ChildWorker } from './harness';

/**
 * The posts → member_uuid change, 2 ms slower per row (`pg_sleep` in the sub-select), so that a
 * batch's connection is busy most of the time and a fault lands on a running statement.
 */
export const SLOW_SET = 'member_uuid = (SELECT m.uuid FROM members m, pg_sleep(0.002) WHERE m.id = posts.member_id)';

/** Where each scenario records its outcome. */
export const RESULTS_FILE = path.resolve(__dirname, '..', '..', '.ferry', 'fault-results.json');

/** The end state of a counted-posts migration: what the scenario's assertions and the report use. */
export interface EndState {
  /** Rows the backfill never reached (still NULL), or set to a wrong value. */
  rowsWrong: number;
  /** Rows the backfill updated more than once (the `post_updates` trigger). */
  rowsTwice: number;
  /** Rows never updated at all. */
  rowsLost: number;
  /** Rows recorded in `ferry.failed_rows` for the migration. */
  failedRows: number;
}

/** One scenario's outcome, as it appears in docs/reliability.md. */
export interface FaultResult extends EndState {
  scenario: string;
  rows: number;
  phase: string;
  /** The phase is `completed` and every row is right, once. */
  recovered: boolean;
  /** Longest time from a fault to the migration making progress again, ms. */
  recoveryMs: number;
  /** What the scenario did, in a few words. */
  faults: string;
  at: string;
}

/**
 * Reads the end state of the counted posts after a posts → member_uuid migration whose contract
 * dropped `member_id`: every post must have its member's uuid (posts were created with
 * `member_id = 1 + id % 100`), and `post_updates` must count exactly one UPDATE per post.
 */
export async function postsEndState(pool: Pool, migration: string, rows: number): Promise<EndState> {
  const wrong = await pool.query(
    `SELECT count(*)::int AS n FROM posts p LEFT JOIN members m ON m.id = 1 + (p.id % 100)
      WHERE p.member_uuid IS DISTINCT FROM m.uuid`,
  );
  const counts = await updateCounts(pool);
  const twice = Object.entries(counts)
    .filter(([times]) => Number(times) > 1)
    .reduce((sum, [, n]) => sum + n, 0);
  const failed = await pool.query(`SELECT count(*)::int AS n FROM ferry.failed_rows WHERE migration = $1::text`, [migration]);
  return { rowsWrong: wrong.rows[0].n, rowsTwice: twice, rowsLost: counts['0'] ?? rows - sumCounts(counts), failedRows: failed.rows[0].n };
}

function sumCounts(counts: Record<string, number>): number {
  return Object.values(counts).reduce((a, b) => a + b, 0);
}

/** Adds or replaces the scenario's row in RESULTS_FILE. */
export function recordFault(result: Omit<FaultResult, 'recovered' | 'at'>): FaultResult {
  const row: FaultResult = {
    ...result,
    recovered: result.phase === 'completed' && result.rowsWrong === 0 && result.rowsTwice === 0 && result.rowsLost === 0,
    at: new Date().toISOString(),
  };
  fs.mkdirSync(path.dirname(RESULTS_FILE), { recursive: true });
  let all: Record<string, FaultResult> = {};
  try {
    all = JSON.parse(fs.readFileSync(RESULTS_FILE, 'utf8'));
  } catch {
    // first scenario of the run
  }
  all[row.scenario] = row;
  fs.writeFileSync(RESULTS_FILE, `${JSON.stringify(all, null, 2)}\n`);
  return row;
}

/** What a scenario did and how it ended, for `expectEveryRowOnce`. */
export interface FaultEnd {
  scenario: string;
  /** What the scenario did, in a few words. */
  faults: string;
  rows: number;
  /** The migration's phase at the end (`waitForPhase(...).phase`). */
  phase: unknown;
  /** Longest time from a fault to the migration making progress again, ms. */
  recoveryMs: number;
}

/**
 * Records the scenario's end state in RESULTS_FILE (first, so a failed scenario shows in the
 * report too), then expects every row right, updated once, none failed, and the run recovered.
 * @example
 * await expectEveryRowOnce(ctx.db.pool, name, { scenario, faults, rows: ROWS, phase: done.phase, recoveryMs });
 */
export async function expectEveryRowOnce(pool: Pool, migration: string, fault: FaultEnd): Promise<FaultResult> {
  const end = await postsEndState(pool, migration, fault.rows);
  const { scenario, faults, rows, recoveryMs } = fault;
  const row = recordFault({ scenario, faults, rows, phase: String(fault.phase), recoveryMs, ...end });
  expect(end).toEqual({ rowsWrong: 0, rowsTwice: 0, rowsLost: 0, failedRows: 0 });
  expect(row.recovered).toBe(true);
  return row;
}

/**
 * Ends the migration's worker connections (`application_name = 'ferry'`) on the test's own
 * database, from `pool` (which is not ferry's); returns how many were ended.
 */
export async function terminateWorkerBackends(pool: Pool): Promise<number> {
  const { rows } = await pool.query(
    `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
      WHERE application_name = 'ferry' AND datname = current_database() AND pid <> pg_backend_pid()`,
  );
  return rows[0].n;
}

/**
 * Polls `progress` until it exceeds `from`; returns the time it took, ms (how long the migration
 * needed to make progress again after a fault). Throws at once when `worker` exits.
 */
export async function timeToProgress(
  progress: () => Promise<number>,
  from: number,
  opts: { timeoutMs?: number; worker?: ChildWorker } = {},
): Promise<number> {
  const { timeoutMs = 120_000, worker } = opts;
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    if (worker && (worker.proc.exitCode !== null || worker.proc.signalCode !== null)) {
      throw new Error(
        `ferry worker exited (${worker.proc.exitCode ?? worker.proc.signalCode}) after the fault:\n${worker.output().slice(-2000)}`,
      );
    }
    if ((await progress().catch(() => from)) > from) return Date.now() - started;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no progress past ${from} within ${timeoutMs} ms after the fault`);
}
