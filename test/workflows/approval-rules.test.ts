/**
 * Who approved is recorded from the caller's credentials, and `contract.approval` limits who may:
 * `notBy: 'starter'` refuses the identity that started the migration, `by: [...]` names the
 * identities allowed. A refusal is the update validator's (nothing written to the history, exit 3
 * through `ferry approve`); every signal and update records its identity beside `by`.
 */
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { control } from '../../src/client/control';
import type { FerryClient } from '../../src/client/connect';
import type { FerryConfig } from '../../src/config';
import { approvalRefusal, describeApprovalRule, identityMatches } from '../../src/contract/approval';
import { approveUpdate, auditQuery, deployedSignal, pauseUpdate, resumeUpdate } from '../../src/contract/messages';
import { FerryError } from '../../src/contract/errors';
import { Scenario, send, useEnv, type Handle } from './scenario';

const env = useEnv();
const ALICE = 'O=Acme, CN=alice';
const BOB = 'O=Acme, CN=bob';

const awaitingApproval = (s: Scenario, h: Handle) =>
  s.until(h, (p) => p.phase === 'awaiting-approval' && p.waitingFor !== undefined, 'awaiting-approval');

/** Whether the history holds an accepted `approve` update (a validator's refusal leaves none). */
async function approvalsInHistory(h: Handle): Promise<number> {
  const history = await h.fetchHistory();
  return (history.events ?? []).filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.name === 'approve')
    .length;
}

test('identities match exactly, or as a part of a certificate subject', () => {
  expect(identityMatches(ALICE, 'CN=alice')).toBe(true);
  expect(identityMatches(ALICE, 'cn=alice')).toBe(true);
  expect(identityMatches(ALICE, 'CN=Alice')).toBe(false);
  expect(identityMatches('O=Evil, CN=alicex', 'CN=alice')).toBe(false);
  expect(identityMatches('api-key:ci-bot', 'api-key:ci-bot')).toBe(true);
  expect(identityMatches('api-key:ci-bot', 'CN=ci-bot')).toBe(false);
  expect(approvalRefusal('m', { notBy: 'starter' }, ALICE, BOB)).toBeUndefined();
  expect(approvalRefusal('m', { by: ['CN=bob'] }, ALICE, BOB)).toBeUndefined();
  expect(describeApprovalRule({ notBy: 'starter', by: ['CN=alice', 'CN=bob'] })).toBe('a second person, one of "CN=alice", "CN=bob"');
});

test("notBy 'starter': the starter's approval is refused and not recorded; a second person's goes through", async () => {
  const s = new Scenario(env);
  const done = await s.run(
    { approvalRequired: true, approval: { notBy: 'starter' }, startedBy: 'alice', startedIdentity: ALICE },
    async (h, input) => {
      await awaitingApproval(s, h);
      const refused = await send(h, approveUpdate, { by: 'bob', identity: ALICE }).catch((err: unknown) => err);
      expect(refused).toBeInstanceOf(WorkflowUpdateFailedError);
      expect((refused as WorkflowUpdateFailedError).cause?.message).toBe(
        `migration "${input.name}" was started by "${ALICE}", and contract.approval.notBy "starter" needs a second person; ` +
          `"${ALICE}" may not approve it. Ask someone else to run "ferry approve ${input.name}" with their own credentials.`,
      );
      expect(await approvalsInHistory(h)).toBe(0);
      expect((await h.query(auditQuery)).map((e) => e.action)).not.toContain('approved');
      // No identity at all (an update sent by hand): refused too, the rule cannot be checked.
      await expect(send(h, approveUpdate, { by: 'alice' })).rejects.toBeInstanceOf(WorkflowUpdateFailedError);
      expect(await send(h, approveUpdate, { by: 'bob', identity: BOB })).toMatchObject({ approved: { by: 'bob', identity: BOB } });
      expect(await approvalsInHistory(h)).toBe(1);
      expect((await h.result()).phase).toBe('completed');
      return h.query(auditQuery);
    },
  );
  expect(done[0]).toMatchObject({ action: 'started', by: 'alice', identity: ALICE });
  expect(done).toContainEqual(expect.objectContaining({ action: 'approved', by: 'bob', identity: BOB }));
  expect(s.calls('contract')).toBe(1);
});

test('by: only the listed identities may approve, whatever --by says; ferry approve exits 3 on a refusal', async () => {
  const s = new Scenario(env);
  const done = await s.run({ approvalRequired: true, approval: { by: ['CN=carol'] }, startedIdentity: ALICE }, async (h, input) => {
    expect((await awaitingApproval(s, h)).waitingFor).toBe(
      `approval: run "ferry approve ${input.name}" (contract.approval: one of "CN=carol")`,
    );
    const fc: FerryClient = {
      client: env().t.client,
      config: {} as FerryConfig,
      caller: { identity: BOB, proof: 'mtls' },
      close: async () => {},
    };
    const refused = await control(fc, input.name, approveUpdate, { by: 'carol' }).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(FerryError);
    expect(refused).toMatchObject({
      code: 'CONFLICT',
      exitCode: 3,
      message: `"${BOB}" may not approve migration "${input.name}": contract.approval.by allows only "CN=carol". Ask one of them to run "ferry approve ${input.name}" with their own credentials.`,
    });
    expect(await approvalsInHistory(h)).toBe(0);
    const carol = { ...fc, caller: { identity: 'O=Acme, CN=carol', proof: 'mtls' as const } };
    expect(await control(carol, input.name, approveUpdate, { by: 'carol' })).toMatchObject({ approved: { identity: 'O=Acme, CN=carol' } });
    return h.result();
  });
  expect(done.phase).toBe('completed');
});

test('without contract.approval rules anyone may approve, and every signal and update records its identity', async () => {
  const s = new Scenario(env);
  const done = await s.run({ approvalRequired: true, dualWrite: 'app', startedIdentity: ALICE }, async (h) => {
    await s.until(h, (p) => p.phase === 'awaiting-deploy' && p.waitingFor !== undefined, 'awaiting-deploy');
    await h.signal(deployedSignal, { by: 'ci', identity: 'api-key:ci-bot' });
    await send(h, pauseUpdate, { by: 'bob', identity: BOB });
    await send(h, resumeUpdate, { by: 'bob', identity: BOB });
    await awaitingApproval(s, h);
    await send(h, approveUpdate, { by: 'alice', identity: ALICE });
    await h.result();
    return h.query(auditQuery);
  });
  const trail = done.map((e) => `${e.action}:${e.by}:${e.identity ?? '-'}`);
  expect(trail).toEqual(
    expect.arrayContaining([
      `started:jest:${ALICE}`,
      'deployed:ci:api-key:ci-bot',
      `paused:bob:${BOB}`,
      `resumed:bob:${BOB}`,
      `approved:alice:${ALICE}`,
    ]),
  );
});
