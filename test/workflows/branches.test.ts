/**
 * The workflow's failure branches with mocked activities: a failed dual-write probe, verify's
 * catch-up and hold, retries exhausted (pause) and a definition error (failed).
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { deployedSignal, progressQuery, resumeUpdate } from '../../src/contract/messages';
import { failureOf, jestActor, probed, Scenario, send, sequence, sleep, useEnv, verified } from './scenario';

const env = useEnv();

/** What a trigger-mode migration calls from the start of its first pass through the contract. */
const HAPPY_TRIGGER = ['describeTarget', 'expand', 'initBackfill#1', 'backfillChunk', 'backfillStatus', 'verify', 'verify', 'contract'];

test('a clean trigger-mode run calls each activity once, in order, and completes', async () => {
  const s = new Scenario(env);
  const done = await s.run({}, (h) => h.result());
  expect(done).toMatchObject({ phase: 'completed', paused: false, rowsDone: 10, verify: { wrongRows: 0 } });
  expect(s.log).toEqual(HAPPY_TRIGGER);
  expect(s.calls('rollback')).toBe(0);
});

test('a dual-write probe that finds old-shape rows waits for another deploy, then goes on', async () => {
  const s = new Scenario(env);
  s.impl.probeDualWrite = sequence(probed(3), probed(0));
  const done = await s.run({ dualWrite: 'app' }, async (h, input) => {
    await s.until(h, (p) => p.phase === 'awaiting-deploy' && /"deployed" signal/.test(p.waitingFor ?? ''), 'the deploy wait');
    expect(s.calls('markDeploy')).toBe(0);
    await h.signal(deployedSignal, jestActor);
    const failed = await s.until(h, (p) => p.probe?.ok === false, 'the failed probe');
    expect(failed).toMatchObject({ phase: 'awaiting-deploy', deployed: false, probe: { ok: false, badRows: 3 } });
    expect(failed.lastError).toContain(`dual-write probe: 3 rows written after the deploy signal lack the new shape`);
    expect(failed.lastError).toContain(`"ferry deployed ${input.name}" again`);
    // It waits for a new deploy: no backfill starts.
    await s.until(h, (p) => /"deployed" signal/.test(p.waitingFor ?? ''), 'the second deploy wait');
    await sleep(300);
    expect(s.calls('initBackfill')).toBe(0);
    expect((await h.query(progressQuery)).phase).toBe('awaiting-deploy');
    await h.signal(deployedSignal, jestActor);
    return h.result();
  });
  expect(done).toMatchObject({ phase: 'completed', probe: { ok: true, badRows: 0 } });
  expect(done.lastError).toBeUndefined(); // the probe passed: its old error is gone
  expect(s.log).toEqual([
    'describeTarget',
    'expand',
    'markDeploy',
    'probeDualWrite',
    'markDeploy',
    'probeDualWrite',
    ...HAPPY_TRIGGER.slice(2),
  ]);
  // The second probe counts from the second deploy's mark.
  expect(s.mocks.probeDualWrite.mock.calls.map(([i]) => i.xidMark)).toEqual(['1001', '1002']);
});

test('verify finding wrong rows runs one catch-up pass, then cools off and completes', async () => {
  const s = new Scenario(env);
  s.impl.verify = sequence(verified(5), verified(0));
  const done = await s.run({}, (h) => h.result());
  expect(done).toMatchObject({ phase: 'completed', paused: false, verify: { wrongRows: 0 } });
  expect(s.log).toEqual([
    'describeTarget',
    'expand',
    'initBackfill#1',
    'backfillChunk',
    'backfillStatus',
    'verify', // 5 wrong rows
    'initBackfill#2', // the catch-up pass
    'backfillChunk',
    'backfillStatus',
    'verify', // 0: on to cooling-off
    'verify', // the contract's re-verify
    'contract',
  ]);
});

test('app mode: wrong rows and a failing re-probe go back to awaiting-deploy, then catch up', async () => {
  const s = new Scenario(env);
  s.impl.verify = sequence(verified(2), verified(0));
  s.impl.probeDualWrite = sequence(probed(0), probed(1), probed(0));
  const done = await s.run({ dualWrite: 'app' }, async (h) => {
    await h.signal(deployedSignal, jestActor); // recorded before the phase waits for it
    const back = await s.until(h, (p) => p.probe?.ok === false, 'the failed re-probe');
    expect(back.phase).toBe('awaiting-deploy');
    expect(back.deployed).toBe(false);
    await h.signal(deployedSignal, jestActor);
    return h.result();
  });
  expect(done.phase).toBe('completed');
  expect(s.log).toEqual([
    'describeTarget',
    'expand',
    'markDeploy',
    'probeDualWrite',
    'initBackfill#1',
    'backfillChunk',
    'backfillStatus',
    'verify', // 2 wrong rows
    'probeDualWrite', // the app writes the old shape again
    'markDeploy', // after the new deploy signal
    'probeDualWrite',
    'initBackfill#2',
    'backfillChunk',
    'backfillStatus',
    'verify',
    'verify',
    'contract',
  ]);
});

test('verify still wrong after a catch-up pass holds the migration paused; resume goes on', async () => {
  const s = new Scenario(env);
  s.impl.verify = sequence(verified(4), verified(4), verified(0));
  const done = await s.run({}, async (h, input) => {
    const held = await s.until(h, (p) => p.paused, 'the hold');
    expect(held).toMatchObject({
      phase: 'verifying',
      pauseReason: 'verify found 4 wrong rows after a catch-up pass',
      verify: { wrongRows: 4 },
    });
    expect(held.lastError).toContain(`still match the verify predicate after a catch-up pass`);
    expect(held.lastError).toContain(`"ferry resume ${input.name}"`);
    await sleep(300);
    expect(s.calls('verify')).toBe(2);
    expect(s.calls('initBackfill')).toBe(2);
    const resumed = await send(h, resumeUpdate);
    expect(resumed.paused).toBe(false);
    expect(resumed.lastError).toBeUndefined();
    return h.result();
  });
  expect(done).toMatchObject({ phase: 'completed', verify: { wrongRows: 0 } });
  expect(s.log.filter((c) => c.startsWith('initBackfill'))).toEqual(['initBackfill#1', 'initBackfill#2']);
  expect(s.log.slice(-4)).toEqual(['verify', 'verify', 'verify', 'contract']);
});

test('expand and contract may run for hours (a big index build) and still notice a dead worker by heartbeats', async () => {
  const s = new Scenario(env);
  const timeouts: Record<string, { startToCloseMs?: number; heartbeatMs?: number }> = {};
  const record = (name: string) => {
    const { startToCloseTimeoutMs, heartbeatTimeoutMs } = Context.current().info;
    timeouts[name] = { startToCloseMs: startToCloseTimeoutMs, heartbeatMs: heartbeatTimeoutMs };
    return { statements: 1, retries: 0 };
  };
  s.impl.expand = async () => record('expand');
  s.impl.contract = async () => record('contract');
  let heartbeatMs = 0;
  const done = await s.run({}, (h, input) => {
    heartbeatMs = input.settings.heartbeatTimeoutMs;
    return h.result();
  });
  expect(done).toMatchObject({ phase: 'completed' });
  const hours24 = 24 * 3600_000;
  expect(heartbeatMs).toBeGreaterThan(0);
  expect(timeouts).toEqual({ expand: { startToCloseMs: hours24, heartbeatMs }, contract: { startToCloseMs: hours24, heartbeatMs } });
});

test('retries exhausted pause the migration with the error; resume runs the phase again', async () => {
  const s = new Scenario(env);
  const attempts: number[] = [];
  s.impl.expand = async () => {
    attempts.push(Context.current().info.attempt);
    if (s.calls('expand') <= 10) {
      // The real retry policy (10 attempts), with the waits between them cut by the failure
      // itself: the policy's own backoff (1 s doubling to 1 min) would take ~4 minutes. The dev
      // server fires retry timers about 1 s late, so this test still takes ~10 s.
      throw ApplicationFailure.create({ message: 'connection refused', type: 'UNAVAILABLE', nextRetryDelay: 10 });
    }
    return { statements: 1, retries: 0 };
  };
  const done = await s.run({}, async (h, input) => {
    const paused = await s.until(h, (p) => p.paused, 'the pause on error');
    expect(paused).toMatchObject({
      phase: 'expanding',
      lastError: 'expanding: connection refused',
      pauseReason: `error in expanding; fix the cause, then run "ferry resume ${input.name}"`,
    });
    await sleep(300);
    expect(attempts).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(s.calls('initBackfill')).toBe(0);
    await send(h, resumeUpdate);
    return h.result();
  });
  expect(done).toMatchObject({ phase: 'completed', paused: false });
  expect(attempts).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 1]);
  expect(s.log).toEqual(['describeTarget', 'expand', ...Array(9).fill('expand'), 'describeTarget', 'expand', ...HAPPY_TRIGGER.slice(2)]);
});

test('a definition error (INVALID_DEFINITION) fails the migration after one attempt', async () => {
  const s = new Scenario(env);
  s.impl.expand = async () => {
    throw ApplicationFailure.nonRetryable('column "member_id" does not exist; fix expand.up', 'INVALID_DEFINITION');
  };
  await s.run({}, async (h) => {
    expect(await failureOf(h)).toEqual({ type: 'MigrationFailed', message: 'expanding: column "member_id" does not exist; fix expand.up' });
    expect((await h.query(progressQuery)).phase).toBe('failed');
  });
  expect(s.log).toEqual(['describeTarget', 'expand']);
});

test('a non-retryable code thrown as retryable (TOO_MANY_FAILED_ROWS) is not retried: the retry policy lists it', async () => {
  const s = new Scenario(env);
  s.impl.backfillChunk = async () => {
    throw ApplicationFailure.create({ message: '12 failed rows > backfill.maxFailedRows 10', type: 'TOO_MANY_FAILED_ROWS' });
  };
  await s.run({}, async (h) => {
    expect(await failureOf(h)).toEqual({ type: 'MigrationFailed', message: 'backfilling: 12 failed rows > backfill.maxFailedRows 10' });
    expect((await h.query(progressQuery)).phase).toBe('failed');
  });
  // The failed chunk's committed batches are counted (backfillStatus) before the migration fails.
  expect(s.log).toEqual(['describeTarget', 'expand', 'initBackfill#1', 'backfillChunk', 'backfillStatus']);
});
