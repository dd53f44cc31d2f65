/**
 * `rollbackWorkflow` (ferry abort --rollback after a run is over) with mocked activities: it runs
 * the rollback once, carries the ended run's audit trail and adds who and why, refuses control
 * updates while it runs, and ends `aborted`; a rollback that fails leaves the search attributes at
 * the ended run's phase and says how to try again.
 */
import { WorkflowFailedError, WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { Worker } from '@temporalio/worker';
import { workflowId } from '../../src/config';
import { auditQuery, progressQuery } from '../../src/contract/messages';
import * as sa from '../../src/contract/search-attributes';
import type { RollbackInput, RollbackWorkflow } from '../../src/contract/workflow';
import { uniqueTaskQueue } from '../helpers/temporal';
import { Scenario, useEnv } from './scenario';

const env = useEnv();

async function runRollback<T>(s: Scenario, body: (h: Awaited<ReturnType<typeof start>>) => Promise<T>): Promise<T> {
  const { t, bundle } = env();
  const taskQueue = uniqueTaskQueue('rb');
  const worker = await Worker.create({
    connection: t.connection,
    namespace: t.namespace,
    taskQueue,
    workflowBundle: bundle,
    activities: s.mocks,
  });
  return worker.runUntil(async () => body(await start(taskQueue)));
}

function start(taskQueue: string) {
  const input: RollbackInput = {
    name: taskQueue,
    table: '"public"."posts"',
    specHash: 'spec-1',
    by: 'dave',
    reason: 'bad row',
    previous: { runId: 'run-1', status: 'FAILED', phase: 'failed', audit: [{ at: '2026-01-01T00:00:00Z', action: 'failed', by: 'ferry' }] },
  };
  return env().t.client.workflow.start<RollbackWorkflow>('rollbackWorkflow', {
    taskQueue,
    workflowId: workflowId(taskQueue),
    args: [input],
    typedSearchAttributes: [
      { key: sa.MigrationName, value: taskQueue },
      { key: sa.MigrationPhase, value: 'failed' },
    ],
  });
}

test('rolls back once, records who and why after the ended run, refuses updates meanwhile, ends aborted', async () => {
  const s = new Scenario(env);
  const gate = s.gate('rollback');
  await runRollback(s, async (h) => {
    await gate.entered;
    const refused = await h.executeUpdate('pause', { args: [{ by: 'bob' }] }).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(WorkflowUpdateFailedError);
    expect(String((refused as WorkflowUpdateFailedError).cause?.message)).toContain('is being rolled back');
    expect((await h.query(progressQuery)).waitingFor).toContain('rollback');
    gate.release();
    const done = await h.result();
    expect(done).toMatchObject({ phase: 'aborted', abort: { by: 'dave', reason: 'bad row', rollback: true } });
    expect(done.waitingFor).toBeUndefined();
    expect((await h.describe()).typedSearchAttributes.get(sa.MigrationPhase)).toBe('aborted');
    const audit = await h.query(auditQuery);
    expect(audit.map((e) => e.action)).toEqual(['failed', 'rollback requested', 'aborted (rollback)']);
    expect(audit[1]).toMatchObject({ by: 'dave', detail: expect.stringContaining('run run-1 had ended FAILED in failed') });
  });
  expect(s.calls('rollback')).toBe(1);
}, 60_000);

test('a rollback that fails: the run fails, the phase stays, the error says to run it again', async () => {
  const s = new Scenario(env);
  s.impl.rollback = async () => {
    throw ApplicationFailure.nonRetryable('column "x" does not exist', 'INVALID_DEFINITION');
  };
  await runRollback(s, async (h) => {
    const failure = await h.result().catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    expect((await h.describe()).typedSearchAttributes.get(sa.MigrationPhase)).toBe('failed');
    const p = await h.query(progressQuery);
    expect(p.lastError).toContain('column "x" does not exist');
    expect(p.lastError).toContain(`ferry abort ${p.name} --rollback`);
    expect((await h.query(auditQuery)).at(-1)).toMatchObject({ action: 'rollback failed' });
  });
}, 60_000);
