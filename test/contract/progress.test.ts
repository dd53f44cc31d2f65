/**
 * Progress computed once and rendered once (src/contract/progress.ts), and what watching a
 * migration until a phase comes to (untilOutcome in src/contract/phases.ts): pure functions.
 */
import type { MigrationInput, MigrationState } from '../../src/contract/migration';
import { hasFailed, untilOutcome } from '../../src/contract/phases';
import { progressLines, progressOf, rowMath, statementsDetail, withInFlight, type Progress } from '../../src/contract/progress';
import { initialState } from '../../src/workflows/state';

const input: MigrationInput = {
  name: 'posts-uuid',
  table: '"public"."posts"',
  specHash: 'abc',
  dualWrite: 'trigger',
  coolOffMs: 1000,
  approvalRequired: true,
  maxFailedRows: 0,
  concurrency: 1,
  startedBy: 'jest',
  settings: { chunkMs: 1000, heartbeatTimeoutMs: 1000, probeWindowMs: 100, historyLimit: 2000 },
};

/** A backfill 4,000 rows into 10,000, at 1,000 rows a second. */
function backfilling(change: (s: MigrationState) => void = () => undefined): MigrationState {
  const s = initialState(input, new Date('2026-01-01T00:00:00Z'));
  s.phase = 'backfilling';
  s.rowsEstimated = 10_000;
  Object.assign(s.backfill, { rowsScanned: 4000, rowsUpdated: 4000, activeMs: 4000, recentRate: 1000, batchSize: 500 });
  change(s);
  return s;
}

const line = (p: Progress, label: string) => progressLines(p).find((l) => l.label === label)?.text;

describe('rate and ETA only while the backfill runs', () => {
  test('running: rate and ETA', () => {
    const p = progressOf(input, backfilling());
    expect(p).toMatchObject({ rowsPerSecond: 1000, etaSeconds: 6, paused: false });
    expect(line(p, 'backfill')).toBe('4,000 / ~10,000 rows (40.0%), 4,000 changed, 1,000 rows/s, ETA 6s');
  });

  test.each<[string, (s: MigrationState) => void]>([
    ['paused', (s) => ((s.paused = true), (s.pauseReason = 'peak'))],
    ['aborted', (s) => ((s.phase = 'aborted'), (s.paused = true))],
    ['failed', (s) => (s.phase = 'failed')],
    ['being aborted', (s) => (s.abort = { by: 'carol', reason: 'x', rollback: false, at: 'now' })],
  ])('%s: neither', (_what, change) => {
    const p = progressOf(input, backfilling(change));
    expect(p).toMatchObject({ rowsPerSecond: 0, etaSeconds: null });
    expect(line(p, 'backfill')).toBe('4,000 / ~10,000 rows (40.0%), 4,000 changed');
  });

  test('completed: 100%, no rate, no ETA', () => {
    const p = progressOf(
      input,
      backfilling((s) => ((s.phase = 'completed'), (s.backfill.done = true))),
    );
    expect(p).toMatchObject({ percent: 100, rowsPerSecond: 0, etaSeconds: null, rowsEstimated: 10_000 });
    expect(line(p, 'backfill')).toBe('4,000 / ~10,000 rows (100.0%), 4,000 changed');
  });

  test('rowMath: stopped has no rate and no ETA', () => {
    expect(rowMath({ rowsDone: 50, rowsEstimated: 100, rate: 10, done: false, stopped: true })).toEqual({
      rowsDone: 50,
      rowsEstimated: 100,
      percent: 50,
      rowsPerSecond: 0,
      etaSeconds: null,
    });
  });

  test('the rows of running chunks give no rate to a paused backfill', () => {
    const p = withInFlight(
      progressOf(
        input,
        backfilling((s) => (s.paused = true)),
      ),
      { rows: 500, updated: 500, rate: 800 },
    );
    expect(p).toMatchObject({ rowsDone: 4500, rowsPerSecond: 0, etaSeconds: null });
  });
});

test('an ended migration is not paused, and says nothing of resuming', () => {
  const p = progressOf(
    input,
    backfilling((s) => ((s.phase = 'aborted'), (s.paused = true), (s.pauseReason = 'peak'))),
  );
  expect(p.paused).toBe(false);
  expect(p.pauseReason).toBeUndefined();
  expect(progressLines(p).map((l) => l.label)).not.toContain('paused');
});

test('the batch size is fixed or adaptive as the definition says', () => {
  expect(line(progressOf(input, backfilling()), 'batches')).toBe('500 rows each (adaptive)');
  expect(
    line(
      progressOf(
        input,
        backfilling((s) => (s.backfill.batchSizeFixed = true)),
      ),
      'batches',
    ),
  ).toBe('500 rows each (fixed)');
});

test('last known progress says how old it is', () => {
  const p: Progress = {
    ...progressOf(
      input,
      backfilling((s) => (s.paused = true)),
    ),
    asOf: { at: '2026-01-01T00:00:00.000Z', ageSeconds: 90 },
  };
  expect(line(p, 'backfill')).toBe('4,000 / ~10,000 rows (40.0%), 4,000 changed (last known, as of 2026-01-01T00:00:00.000Z, 1m 30s ago)');
});

test("statements of the author apart from ferry's trigger", () => {
  expect(statementsDetail({ statements: 3, retries: 0, triggerStatements: 2 }, 'contract.up')).toBe(
    "1 statement of contract.up (+2 for ferry's trigger)",
  );
  expect(statementsDetail({ statements: 2, retries: 0, triggerStatements: 0 }, 'expand.up')).toBe('2 statements of expand.up');
  expect(statementsDetail({ statements: 3, retries: 0 }, 'contract.up')).toBe('3 statements'); // a result of an older worker
});

describe('untilOutcome: what --until and --wait-for exit with', () => {
  test.each<[Parameters<typeof untilOutcome>, ReturnType<typeof untilOutcome>]>([
    [['awaiting-approval', 'RUNNING', 'awaiting-approval'], 'reached'],
    [['completed', 'COMPLETED', 'awaiting-approval'], 'reached'],
    [['backfilling', 'RUNNING', 'awaiting-approval'], 'waiting'],
    [['failed', 'FAILED', 'awaiting-approval'], 'failed'],
    [['contracting', 'TIMED_OUT', 'completed'], 'failed'],
    [['aborted', 'COMPLETED', 'completed'], 'stopped'],
    [['backfilling', 'CANCELLED', 'completed'], 'stopped'],
    [['backfilling', 'TERMINATED', 'verifying'], 'stopped'],
    [['aborted', 'COMPLETED', 'aborted'], 'reached'],
  ])('%j → %s', (args, outcome) => {
    expect(untilOutcome(...args)).toBe(outcome);
  });

  test('plain status: only a failure is one', () => {
    expect(hasFailed('failed', 'FAILED')).toBe(true);
    expect(hasFailed('aborted', 'COMPLETED')).toBe(false);
    expect(hasFailed('backfilling', 'CANCELLED')).toBe(false);
  });
});
