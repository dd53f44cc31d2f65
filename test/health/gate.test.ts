/** The health gate: first unhealthy verdict in order, fail closed, and a short cache. */
import type { Pool } from 'pg';
import { HEALTHY, unhealthy, type HealthCheck, type HealthVerdict } from '../../src/health/check';
import { createHealthGate } from '../../src/health/gate';
import { healthChecks } from '../../src/health/settings';
import { validateDefinition } from '../../src/definition/define';

const pool = {} as Pool; // the fake checks below never touch it

function fake(label: string, answer: () => Promise<HealthVerdict> | HealthVerdict): HealthCheck & { calls: number } {
  const check = { kind: 'user_check' as const, label, calls: 0, run: async () => (check.calls++, answer()) };
  return check;
}

describe('createHealthGate', () => {
  it('answers the first unhealthy verdict in the order of the checks', async () => {
    const checks = [
      fake('a', () => HEALTHY),
      fake('b', () => unhealthy('user_check', 'b says no')),
      fake('c', () => unhealthy('user_check', 'c says no')),
    ];
    expect(await createHealthGate(pool, checks).check()).toEqual({ healthy: false, kind: 'user_check', reason: 'b says no' });
  });

  it('fails closed: a check that throws or hangs is unhealthy, naming it', async () => {
    const throws = fake('check "x"', () => Promise.reject(new Error('boom')));
    expect(await createHealthGate(pool, [throws]).check()).toMatchObject({ healthy: false, reason: 'check "x" failed: boom' });
    const hangs = fake('check "y"', () => new Promise<HealthVerdict>(() => undefined));
    expect(await createHealthGate(pool, [hangs], { timeoutMs: 50 }).check()).toMatchObject({
      reason: 'check "y" failed: no answer within 50 ms',
    });
  });

  it('reuses a verdict for cacheMs and shares one round between concurrent callers', async () => {
    let now = 0;
    const check = fake('a', () => HEALTHY);
    const gate = createHealthGate(pool, [check], { cacheMs: 250, now: () => now });
    await Promise.all([gate.check(), gate.check(), gate.check()]);
    expect(check.calls).toBe(1);
    now = 200;
    await gate.check();
    expect(check.calls).toBe(1);
    now = 260;
    await gate.check();
    expect(check.calls).toBe(2);
  });

  it('cuts long reasons to 200 characters', () => {
    const v = unhealthy('user_check', 'x'.repeat(500));
    expect(v.healthy === false && v.reason.length).toBe(200);
  });
});

describe('healthChecks', () => {
  const backfill = (health?: Record<string, unknown>) =>
    validateDefinition(
      { table: 't', expand: { up: 'x', down: 'y' }, backfill: { where: 'true', set: 'a = 1', health }, contract: { up: 'z' } },
      'm',
    ).backfill;

  it("runs the built-in checks, then the author's, and can leave autovacuum out", () => {
    const labels = (h?: Record<string, unknown>) => healthChecks('"public"."t"', backfill(h)).map((c) => c.label);
    expect(labels()).toEqual(['lock check', 'replica lag check', 'autovacuum check']);
    expect(labels({ autovacuum: false, checks: [{ name: 'business-hours', sql: 'SELECT true' }] })).toEqual([
      'lock check',
      'replica lag check',
      'check "business-hours"',
    ]);
  });
});
