/**
 * Verification that keeps watching through the cool-off (`verify.every`), with mocked activities:
 * scheduled re-verifies, drift starting a catch-up pass, a drift the catch-up does not fix holding
 * the migration, and the production default (6 h) as a recorded timer.
 */
import { auditQuery, resumeUpdate } from '../../src/contract/messages';
import { VERIFY_MEMO, type VerifyMemo } from '../../src/contract/progress';
import { REVERIFY_PATCH } from '../../src/workflows/reverify';
import { Scenario, send, useEnv, verified } from './scenario';

const env = useEnv();

/** Verify answers: the `nth` call (1-based) finds `rows` wrong rows, every other call none. */
function wrongOnCalls(s: Scenario, wrong: Record<number, number>): void {
  s.impl.verify = async () => verified(wrong[s.calls('verify')] ?? 0);
}

test('a scheduled re-verify that finds drift runs a catch-up pass in the cool-off, which goes on to the contract', async () => {
  const s = new Scenario(env);
  wrongOnCalls(s, { 2: 4 }); // 1: verifying, 2: the first re-verify finds drift
  const done = await s.run({ coolOffMs: 4000, verifyEveryMs: 250 }, async (h) => {
    const drifting = await s.until(h, (p) => p.reverify?.drifts === 1, 'the drift');
    expect(drifting.phase).toBe('cooling-off');
    const result = await h.result();
    const audit = await h.query(auditQuery);
    const memo = (await h.describe()).memo?.[VERIFY_MEMO] as VerifyMemo;
    return { result, audit, memo };
  });
  const { result, audit, memo } = done;
  expect(result).toMatchObject({ phase: 'completed', reverify: { drifts: 1, driftRows: 4, lastWrongRows: 0 } });
  expect(result.reverify!.checks).toBeGreaterThanOrEqual(2); // the drift's re-verify and its catch-up's verify
  // The catch-up pass (#2) runs between the drift and the next verify, before the contract.
  const drift = s.log.indexOf('initBackfill#2');
  expect(s.log.slice(drift - 2, drift + 4)).toEqual(['verify', 'verify', 'initBackfill#2', 'backfillChunk', 'backfillStatus', 'verify']);
  expect(s.log.slice(-2)).toEqual(['verify', 'contract']); // the contract re-verifies as before
  expect(audit.map((a) => a.action)).toEqual(expect.arrayContaining(['drift', 'caught up', 'contracted']));
  expect(audit.find((a) => a.action === 'drift')?.detail).toBe('the scheduled re-verify found 4 wrong rows; catch-up pass 2 starts');
  expect(memo).toMatchObject({ drifts: 1, driftRows: 4, lastWrongRows: 0 });
});

test('drift that the catch-up pass does not fix holds the migration; resumed, the cool-off goes on', async () => {
  const s = new Scenario(env);
  wrongOnCalls(s, { 2: 3, 3: 2 }); // the drift, then 2 rows still wrong after its catch-up
  const done = await s.run({ coolOffMs: 2500, verifyEveryMs: 200 }, async (h, input) => {
    const held = await s.until(h, (p) => p.paused, 'the hold');
    expect(held.phase).toBe('cooling-off');
    expect(held.pauseReason).toContain('2 wrong rows after the catch-up pass of a drift');
    expect(held.lastError).toContain(`catch-up pass 2`);
    expect(held.lastError).toContain(`"ferry resume ${input.name}"`);
    const calls = s.calls('verify');
    await new Promise((r) => setTimeout(r, 500));
    expect(s.calls('verify')).toBe(calls); // held: no re-verify while paused
    await send(h, resumeUpdate);
    return h.result();
  });
  expect(done).toMatchObject({ phase: 'completed', reverify: { drifts: 1, driftRows: 3 } });
});

test('verify.every longer than the cool-off: no re-verify before the contract (the log of a run without it)', async () => {
  const s = new Scenario(env);
  const done = await s.run({ coolOffMs: 300, verifyEveryMs: 60_000 }, (h) => h.result());
  expect(done).toMatchObject({ phase: 'completed', reverify: { checks: 0, drifts: 0 } });
  expect(s.log).toEqual(['describeTarget', 'expand', 'initBackfill#1', 'backfillChunk', 'backfillStatus', 'verify', 'verify', 'contract']);
});

test('the production default: a 6-hour re-verify timer inside a 7-day cool-off, recorded behind its patch', async () => {
  const s = new Scenario(env);
  await s.run({ coolOffMs: 7 * 86_400_000, verifyEveryMs: 6 * 3_600_000 }, async (h) => {
    const p = await s.until(h, (x) => x.phase === 'cooling-off' && /re-verified every 6h/.test(x.waitingFor ?? ''), 'the cool-off');
    expect(p.waitingFor).toContain(`next at ${p.reverify!.nextAt}`);
    const events = (await h.fetchHistory()).events ?? [];
    const timers = events.map((e) => e.timerStartedEventAttributes?.startToFireTimeout?.seconds).filter((x) => x != null);
    expect(timers.map(Number)).toContain(21_600);
    const markers = events.map((e) => e.markerRecordedEventAttributes?.details?.['patch-data']?.payloads?.[0]?.data).filter(Boolean);
    expect(markers.map((d) => Buffer.from(d!).toString())).toEqual(expect.arrayContaining([expect.stringContaining(REVERIFY_PATCH)]));
  });
});
