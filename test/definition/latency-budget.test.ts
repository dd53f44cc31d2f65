/**
 * `backfill.health.latency` in the definition: a read `query`, a `commit: true` probe, or both,
 * with exactly one of `p99Ms` and `ratio`; a definition without `commit` validates as it did.
 */
import { FerryError } from '../../src/contract/errors';
import { validateDefinition } from '../../src/definition/define';

const withLatency = (latency: unknown) => ({
  table: 't',
  expand: { up: 'a', down: 'b' },
  backfill: { where: 'x', set: 'y', health: { latency } },
  contract: { up: 'c' },
});

/** The message validateDefinition throws for `latency`, or '' when it is valid. */
function problem(latency: unknown): string {
  try {
    validateDefinition(withLatency(latency), 'm');
    return '';
  } catch (err) {
    expect(err).toBeInstanceOf(FerryError);
    return (err as Error).message;
  }
}

test('a read, a commit probe, or both, each with a fixed budget or a ratio', () => {
  const latencyOf = (latency: unknown) => validateDefinition(withLatency(latency), 'm').backfill.health.latency;
  expect(latencyOf({ query: 'SELECT 1', p99Ms: 5 })).toEqual({ query: 'SELECT 1', p99Ms: 5 }); // as before: no commit added
  expect(latencyOf({ commit: true, ratio: 1.5 })).toEqual({ commit: true, ratio: 1.5 });
  expect(latencyOf({ query: ' SELECT 1 ', commit: true, p99Ms: 5 })).toEqual({ query: 'SELECT 1', commit: true, p99Ms: 5 });
  expect(latencyOf({ query: 'SELECT 1', commit: false, ratio: 2 })).toEqual({ query: 'SELECT 1', commit: false, ratio: 2 });
});

test('neither a query nor commit: true is refused, naming both', () => {
  for (const latency of [{ p99Ms: 5 }, { commit: false, ratio: 1.5 }]) {
    const message = problem(latency);
    expect(message).toContain('backfill.health.latency: give "query"');
    expect(message).toContain('"commit: true"');
    expect(message).toContain('or both');
  }
});

test('a commit that is not a boolean, an empty query, and a missing or double budget are refused', () => {
  expect(problem({ commit: 'yes', p99Ms: 5 })).toContain('backfill.health.latency.commit: must be true or false');
  expect(problem({ query: '  ', p99Ms: 5 })).toContain('backfill.health.latency.query: must not be empty');
  expect(problem({ commit: true })).toContain('give exactly one of "p99Ms"');
  expect(problem({ commit: true, p99Ms: 5, ratio: 2 })).toContain('give exactly one of "p99Ms"');
  expect(problem({ commit: true, ratio: 0.5 })).toContain('backfill.health.latency.ratio: must be at least 1');
});
