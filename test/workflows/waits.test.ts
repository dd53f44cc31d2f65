/**
 * The wait before expand (`after`, the same table's columns), with a mocked `checkTurn`: nothing
 * expands while it waits, `status` says for what, pause holds the checks, and an abort with
 * rollback while waiting runs no `expand.down` (the columns belong to the migration it waits for).
 */
import { abortUpdate, auditQuery, pauseUpdate, resumeUpdate } from '../../src/contract/messages';
import type { TurnResult } from '../../src/contract/activities';
import { Scenario, send, sleep, useEnv } from './scenario';

const env = useEnv();

const waitingFor = (migration: string): TurnResult => ({
  ready: false,
  waits: [{ migration, reason: 'after', detail: `migration "${migration}" to complete (it is backfilling)` }],
});

/** checkTurn answers "wait for `migration`" until `ready()` says otherwise. */
function waitUntil(s: Scenario, migration: string, ready: () => boolean): void {
  s.logTurns = true;
  s.impl.checkTurn = async () => (ready() ? { ready: true, waits: [] } : waitingFor(migration));
}

test('a migration waits before expand while checkTurn says so, says for what, then expands', async () => {
  const s = new Scenario(env);
  let go = false;
  waitUntil(s, 'orders-total', () => go);
  const done = await s.run({}, async (h, input) => {
    const waiting = await s.until(h, (p) => s.calls('checkTurn') >= 3 && p.waits !== undefined, 'the wait');
    expect(waiting).toMatchObject({ phase: 'expanding', waits: [{ migration: 'orders-total', reason: 'after' }] });
    expect(waiting.waitingFor).toBe('before expand: migration "orders-total" to complete (it is backfilling)');
    expect(s.calls('describeTarget') + s.calls('expand')).toBe(0);
    expect(s.mocks.checkTurn.mock.calls[0][0]).toMatchObject({ name: input.name, workflowId: `migration/${input.name}` });
    go = true;
    return h.result();
  });
  expect(done).toMatchObject({ phase: 'completed' });
  expect(done.waits).toBeUndefined();
  const first = s.log.indexOf('describeTarget');
  expect(s.log.slice(0, first).every((c) => c === 'checkTurn')).toBe(true);
  expect(s.log.slice(first, first + 2)).toEqual(['describeTarget', 'expand']);
});

test('the audit trail records the wait and its end', async () => {
  const s = new Scenario(env);
  waitUntil(s, 'orders-total', () => s.calls('checkTurn') > 2);
  const audit = await s.run({}, async (h) => {
    await h.result();
    return h.query(auditQuery);
  });
  const actions = audit.map((a) => a.action);
  expect(actions.filter((a) => a === 'waiting')).toHaveLength(1); // once per change of what it waits for
  expect(actions.indexOf('waiting')).toBeLessThan(actions.indexOf('done waiting'));
  expect(actions.indexOf('done waiting')).toBeLessThan(actions.indexOf('expanded'));
  expect(audit.find((a) => a.action === 'done waiting')?.detail).toContain('"orders-total"');
});

test('pause holds the checks; resume goes on waiting', async () => {
  const s = new Scenario(env);
  let go = false;
  waitUntil(s, 'orders-total', () => go);
  const done = await s.run({}, async (h) => {
    await s.until(h, (p) => p.waits !== undefined, 'the wait');
    await send(h, pauseUpdate);
    await sleep(100);
    const held = s.calls('checkTurn');
    await sleep(400);
    expect(s.calls('checkTurn')).toBe(held);
    await send(h, resumeUpdate);
    await s.eventually(() => s.calls('checkTurn') > held, 'a check after resume');
    go = true;
    return h.result();
  });
  expect(done.phase).toBe('completed');
});

test('abort --rollback while waiting ends aborted without expand.down', async () => {
  const s = new Scenario(env);
  waitUntil(s, 'orders-total', () => false);
  const done = await s.run({}, async (h) => {
    await s.until(h, (p) => p.waits !== undefined, 'the wait');
    await h.executeUpdate(abortUpdate, { args: [{ by: 'jest', reason: 'test', rollback: true }] });
    const result = await h.result();
    return { result, audit: await h.query(auditQuery) };
  });
  expect(done.result.phase).toBe('aborted');
  expect(s.calls('rollback')).toBe(0);
  expect(s.calls('expand')).toBe(0);
  expect(done.audit.find((a) => a.action === 'rollback skipped')?.detail).toContain('never expanded');
});
