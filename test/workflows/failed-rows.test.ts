/**
 * The failed-rows gate before the contract, with mocked activities: recorded failed rows are re-run
 * after the cool-off, on approve, on `retryFailed` and before the contract; while any still fail
 * the approval is refused or withdrawn and the contract waits, unless `acceptFailedRows` accepts
 * them (recorded in the audit trail with who).
 */
import { WorkflowUpdateFailedError } from '@temporalio/client';
import type { UpdateDefinition } from '@temporalio/common';
import type { Progress } from '../../src/contract/progress';
import type { RetryFailedResult, VerifyResult } from '../../src/contract/activities';
import { abortUpdate, approveUpdate, auditQuery, retryFailedUpdate, type Approval } from '../../src/contract/messages';
import { jestActor, Scenario, sequence, sleep, useEnv, type Handle } from './scenario';

const env = useEnv();

const withFailed = (failedRows: number): VerifyResult => ({ wrongRows: 0, failedRows, checkedRows: 10, ranges: 1 });
const retried = (fixed: number, remaining: number): RetryFailedResult => ({ retried: fixed + remaining, fixed, remaining });

/** Runs an update whose one argument is optional (which `executeUpdate`'s overloads do not accept as such). */
const update = <A>(h: Handle, def: UpdateDefinition<Progress, [A?]>, arg: A) =>
  h.executeUpdate(def as unknown as UpdateDefinition<Progress, [A]>, { args: [arg] });
const approve = (h: Handle, approval: Approval = jestActor) => update(h, approveUpdate, approval);

/** The reason an update was refused with. */
async function refusal(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
  return (err as WorkflowUpdateFailedError).cause?.message ?? '';
}

test('rows still failing after the cool-off refuse approve; retryFailed re-runs them; accepting them lets the contract run', async () => {
  const s = new Scenario(env);
  s.impl.verify = sequence(withFailed(3), withFailed(1));
  s.impl.retryFailedRows = sequence(retried(1, 2), retried(1, 1));
  const done = await s.run({ approvalRequired: true }, async (h, input) => {
    const held = await s.until(h, (p) => p.phase === 'awaiting-approval' && p.failedRows !== undefined, 'the failed-rows hold');
    const query = `SELECT * FROM ferry.failed_rows WHERE migration = '${input.name}' AND run_id = '${(await h.describe()).runId}'`;
    expect(held).toMatchObject({ rowsFailed: 2, failedRows: { remaining: 2, fixed: 1, query } });
    expect(held.waitingFor).toContain('2 recorded failed rows still fail');
    expect(held.waitingFor).toContain(`"ferry approve ${input.name} --accept-failed-rows"`);

    const refused = await refusal(approve(h));
    expect(refused).toContain(`migration "${input.name}" has 2 recorded failed rows that still fail`);
    expect(refused).toContain(query);
    expect(refused).toContain(`"ferry retry-failed ${input.name}"`);

    const after = await update(h, retryFailedUpdate, { by: 'bob' });
    expect(after).toMatchObject({ phase: 'awaiting-approval', rowsFailed: 1, failedRows: { remaining: 1, fixed: 1 } });
    await sleep(300);
    expect(s.calls('contract')).toBe(0);

    await approve(h, { by: 'alice', acceptFailedRows: true });
    return h.result();
  });
  expect(done).toMatchObject({ phase: 'completed', approved: { by: 'alice', acceptedFailedRows: 1 } });
  expect(s.calls('retryFailedRows')).toBe(2);
  expect(s.calls('contract')).toBe(1);
});

test('the audit trail records the re-runs and the approval that accepted the rows, with who', async () => {
  const s = new Scenario(env);
  s.impl.verify = sequence(withFailed(2), withFailed(2));
  s.impl.retryFailedRows = sequence(retried(0, 2));
  const trail = await s.run({ approvalRequired: true }, async (h) => {
    await s.until(h, (p) => p.failedRows !== undefined, 'the re-run');
    await approve(h, { by: 'carol', acceptFailedRows: true });
    await h.result();
    return h.query(auditQuery);
  });
  expect(trail.map((e) => [e.action, e.by, e.detail])).toEqual(
    expect.arrayContaining([
      ['retried failed rows', 'ferry', '0 fixed, 2 remain'],
      ['approved (accepting 2 failed rows)', 'carol', undefined],
      ['contracted', 'ferry', '1 statement'],
    ]),
  );
});

test('an early approval is withdrawn while rows fail, even with contract.approval off; fixed rows let a plain approve through', async () => {
  const s = new Scenario(env);
  s.impl.verify = sequence(withFailed(2), withFailed(0));
  s.impl.retryFailedRows = sequence(retried(0, 2), retried(2, 0));
  const chunk = s.gate('backfillChunk');
  const done = await s.run({ approvalRequired: false }, async (h, input) => {
    await chunk.entered;
    await approve(h, { by: 'dave' }); // before anything failed: accepted
    chunk.release();
    const held = await s.until(h, (p) => p.phase === 'awaiting-approval' && p.lastError !== undefined, 'the hold');
    expect(held.approved).toBeUndefined();
    expect(held.lastError).toContain(`failed rows: 2 rows of ${input.table} still fail`);
    expect((await h.query(auditQuery)).map((e) => e.action)).toContain('approval held');
    expect(s.calls('contract')).toBe(0);

    // The rows were fixed by hand: `ferry approve` re-runs them first (retryFailed), then approves.
    const rerun = await update(h, retryFailedUpdate, jestActor);
    expect(rerun).toMatchObject({ failedRows: { remaining: 0, fixed: 2 }, rowsFailed: 0 });
    expect(rerun.lastError).toBeUndefined();
    await approve(h, { by: 'dave' });
    return h.result();
  });
  expect(done).toMatchObject({ phase: 'completed', approved: { by: 'dave' } });
  expect(done.approved?.acceptedFailedRows).toBeUndefined();
  expect(s.calls('contract')).toBe(1);
});

test('rows that fail after the approval (a catch-up before the contract) send the migration back to approval', async () => {
  const s = new Scenario(env);
  // After the backfill: none failed. The contract's re-verify: one row recorded by a catch-up.
  s.impl.verify = sequence(withFailed(0), withFailed(1), withFailed(1));
  s.impl.retryFailedRows = sequence(retried(0, 1));
  const done = await s.run({ approvalRequired: true }, async (h) => {
    await s.until(h, (p) => p.phase === 'awaiting-approval', 'approval');
    await approve(h);
    const back = await s.until(h, (p) => p.phase === 'awaiting-approval' && p.failedRows?.remaining === 1, 'the way back');
    expect(back.approved).toBeUndefined();
    expect(s.calls('contract')).toBe(0);
    await approve(h, { by: 'erin', acceptFailedRows: true });
    return h.result();
  });
  expect(done).toMatchObject({ phase: 'completed', approved: { by: 'erin', acceptedFailedRows: 1 } });
  expect(s.calls('contract')).toBe(1);
});

test('retryFailed is refused before the backfill and verify are over', async () => {
  const s = new Scenario(env);
  const chunk = s.gate('backfillChunk');
  await s.run({}, async (h, input) => {
    await chunk.entered;
    const refused = await refusal(update(h, retryFailedUpdate, jestActor));
    expect(refused).toContain(`migration "${input.name}" is backfilling; failed rows are re-run once`);
    chunk.release();
    return h.result();
  });
  expect(s.calls('retryFailedRows')).toBe(0);
});

test('an abort that arrives while the failed rows are re-run before the contract still aborts', async () => {
  const s = new Scenario(env);
  s.impl.verify = sequence(withFailed(2));
  s.impl.retryFailedRows = sequence(retried(2, 0));
  const rerun = s.gate('retryFailedRows');
  const done = await s.run({ approvalRequired: false }, async (h) => {
    await rerun.entered;
    await update(h, abortUpdate, { by: 'frank', reason: 'changed our mind', rollback: true });
    rerun.release();
    return h.result();
  });
  expect(done).toMatchObject({ phase: 'aborted', abort: { by: 'frank', rollback: true } });
  expect(s.calls('contract')).toBe(0);
  expect(s.calls('rollback')).toBe(1);
});
