/**
 * The progress lines of the wait before expand and of the cool-off's scheduled re-verifies
 * (src/contract/progress.ts), and the definition keys behind them (`after`, `verify.every`).
 */
import type { MigrationInput, MigrationState } from '../../src/contract/migration';
import { progressLines, progressOf, reverifyText } from '../../src/contract/progress';
import { validateDefinition } from '../../src/definition/define';
import { initialState } from '../../src/workflows/state';

const input = { name: 'posts-uuid', table: '"public"."posts"', startedBy: 'jest', specHash: 'abc' } as MigrationInput;
const state = (change: (s: MigrationState) => void): MigrationState => {
  const s = initialState(input, new Date('2026-01-01T00:00:00Z'));
  change(s);
  return s;
};
const line = (s: MigrationState, label: string) => progressLines(progressOf(input, s)).find((l) => l.label === label);

test('while it waits, the progress lists what for; once over, not', () => {
  const waits = [
    { migration: 'orders-total', reason: 'after' as const, detail: 'migration "orders-total" to complete (it is backfilling)' },
  ];
  const waiting = state((s) => (s.waits = { since: 'T0', waits, checks: 3 }));
  expect(progressOf(input, waiting).waits).toEqual(waits);
  expect(
    progressOf(
      input,
      state((s) => ((s.waits = { since: 'T0', waits, checks: 3 }), (s.phase = 'aborted'))),
    ).waits,
  ).toBeUndefined();
});

test('the re-verify line: how often, the last one, drift, a catch-up running (in bold)', () => {
  const reverify = { everyMs: 6 * 3_600_000, checks: 5, drifts: 0, driftRows: 0, lastAt: 'T5', lastWrongRows: 0 };
  expect(
    line(
      state((s) => (s.reverify = reverify)),
      're-verify',
    ),
  ).toEqual({
    label: 're-verify',
    text: 'every 6h, 5 so far; last at T5: 0 wrong rows; no drift',
  });
  const drifting = { ...reverify, drifts: 2, driftRows: 1234, lastWrongRows: 34, catchingUp: 4 };
  expect(
    line(
      state((s) => (s.reverify = drifting)),
      're-verify',
    ),
  ).toEqual({
    label: 're-verify',
    text: 'every 6h, 5 so far; last at T5: 34 wrong rows; drift found 2 times (1,234 wrong rows in all); DRIFT: catch-up pass 4 running',
    alert: true,
  });
  expect(reverifyText({ everyMs: 1000, checks: 0, drifts: 0, driftRows: 0 })).toBe('every 1s, 0 so far; no drift');
});

const base = {
  table: 'posts',
  expand: { up: 'SELECT 1', down: 'SELECT 1' },
  backfill: { where: 'x IS NULL', set: 'x = 1' },
  contract: { up: 'SELECT 1' },
};

test('after: a name means "completed"; { name, phase } a phase of the main path; verify.every defaults to 6h', () => {
  const d = validateDefinition({ ...base, after: ['a', { name: 'b', phase: 'cooling-off' }] }, 'x');
  expect(d.after).toEqual([
    { name: 'a', phase: 'completed' },
    { name: 'b', phase: 'cooling-off' },
  ]);
  expect(d.verify.every).toBe('6h');
  expect(validateDefinition({ ...base, verify: { every: '1s' } }, 'x').verify.every).toBe('1s');
});

test('bad after and verify.every are refused, naming the field', () => {
  expect(() => validateDefinition({ ...base, after: [{ name: 'b', phase: 'aborted' }] }, 'x')).toThrow(/after\.0\.phase/);
  expect(() => validateDefinition({ ...base, after: [''] }, 'x')).toThrow(/after\.0\.name: must name a migration/);
  expect(() => validateDefinition({ ...base, verify: { every: 6 } }, 'x')).toThrow(/verify\.every: 6 has no unit/);
});
