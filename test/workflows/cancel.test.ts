/**
 * Temporal's cancel request (`temporal workflow cancel`, the Web UI) with mocked activities: the
 * running chunk is cancelled and finishes its batch before the run ends; the run ends CANCELLED in
 * phase `cancelled` with the counters from the checkpoints and an audit entry; nothing is rolled
 * back. Before 0.2 the cancellation paused the migration ("waiting for ferry resume") and then
 * ended the run with the phase left at backfilling.
 */
import { Context } from '@temporalio/activity';
import { WorkflowFailedError } from '@temporalio/client';
import { CancelledFailure } from '@temporalio/common';
import { Worker } from '@temporalio/worker';
import { auditQuery, progressQuery } from '../../src/contract/messages';
import * as sa from '../../src/contract/search-attributes';
import { chunk, Scenario, useEnv, type Handle } from './scenario';

const env = useEnv();

/** A chunk's batches, until the workflow asks it to stop (its stop flag) or Temporal cancels it. */
async function untilStopped(s: Scenario): Promise<void> {
  const ctx = Context.current();
  while (s.calls('requestStop') === 0) {
    if (ctx.cancellationSignal.aborted) throw new CancelledFailure('cancelled');
    ctx.heartbeat({ partition: 0 });
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The run's outcome: the failure a CANCELLED run's result() rejects with. */
async function outcome(h: Handle): Promise<unknown> {
  try {
    await h.result();
    return 'completed';
  } catch (err) {
    return err instanceof WorkflowFailedError ? err.cause : err;
  }
}

test('cancel mid-backfill: the chunk finishes its batch, the run ends cancelled, the schema stays', async () => {
  const s = new Scenario(env);
  let batchFinishedAt = 0;
  s.impl.backfillChunk = async () => {
    await untilStopped(s);
    batchFinishedAt = Date.now(); // the engine finishes the batch in flight and checkpoints it
    return chunk({ rowsScanned: 7, rowsUpdated: 7, done: false, stopped: 'stop-requested' });
  };
  s.impl.backfillStatus = async () => ({ rowsScanned: 7, rowsUpdated: 7, rowsFailed: 0, done: false });
  await s.run({}, async (h) => {
    await s.eventually(() => s.calls('backfillChunk') === 1, 'the chunk');
    await h.cancel();
    const failure = await outcome(h);
    expect(failure).toBeInstanceOf(CancelledFailure);
    const closed = await h.describe();
    expect(closed.status.name).toBe('CANCELLED');
    expect(batchFinishedAt).toBeGreaterThan(0);
    const p = await h.query(progressQuery);
    expect(p).toMatchObject({ phase: 'cancelled', paused: false, rowsDone: 7, cancelled: { by: 'Temporal' } });
    expect(p).not.toHaveProperty('waitingFor');
    expect(closed.typedSearchAttributes.get(sa.MigrationPhase)).toBe('cancelled');
    const audit = await h.query(auditQuery);
    expect(audit.at(-1)).toMatchObject({ action: 'cancelled', by: 'Temporal' });
    expect(audit.at(-1)?.detail).toContain('--rollback');
    expect(s.calls('rollback')).toBe(0);
    expect(s.calls('dropDualWriteTrigger')).toBe(0);
    expect(s.log.at(-1)).toBe('backfillStatus'); // after the chunk returned
    // The cancelled run replays (queries on it replay it; so would a worker after a deploy).
    await Worker.runReplayHistory({ workflowBundle: env().bundle }, await h.fetchHistory(), 'cancelled-run');
  });
}, 60_000);

test('cancel while cooling off (or paused): ends cancelled, not paused waiting for "ferry resume"', async () => {
  const s = new Scenario(env);
  await s.run({ coolOffMs: 60_000 }, async (h) => {
    await s.until(h, (p) => p.phase === 'cooling-off' && p.waitingFor !== undefined, 'cooling-off');
    await h.executeUpdate('pause', { args: [{ by: 'jest' }] });
    await h.cancel();
    expect(await outcome(h)).toBeInstanceOf(CancelledFailure);
    const p = await h.query(progressQuery);
    expect(p).toMatchObject({ phase: 'cancelled', paused: false });
    expect(s.calls('contract')).toBe(0);
    expect(s.calls('rollback')).toBe(0);
  });
}, 60_000);

test('a chunk still running is awaited: nothing runs after the run ended', async () => {
  const s = new Scenario(env);
  s.impl.backfillChunk = async () => {
    await untilStopped(s);
    await new Promise((r) => setTimeout(r, 1500)); // a slow last batch
    return chunk({ done: false, stopped: 'stop-requested' });
  };
  await s.run({}, async (h) => {
    await s.eventually(() => s.calls('backfillChunk') === 1, 'the chunk');
    await h.cancel();
    await outcome(h);
    const events = (await h.fetchHistory()).events ?? [];
    const chunkScheduled = events.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'backfillChunk');
    const id = Number(chunkScheduled?.eventId);
    const chunkEnded = events.findIndex((e) =>
      [e.activityTaskCanceledEventAttributes, e.activityTaskCompletedEventAttributes, e.activityTaskFailedEventAttributes].some(
        (a) => a && Number(a.scheduledEventId) === id,
      ),
    );
    const closed = events.findIndex((e) => e.workflowExecutionCanceledEventAttributes);
    expect(chunkEnded).toBeGreaterThan(-1);
    expect(closed).toBeGreaterThan(chunkEnded);
    expect((await h.query(progressQuery)).phase).toBe('cancelled');
  });
}, 60_000);
