/**
 * `abort` with mocked activities: accepted in every phase before the contract (with and without
 * rollback; the rollback activity runs exactly when asked), refused while contracting and once the
 * migration is over.
 */
import { WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { control } from '../../src/client/control';
import { abortMigration } from '../../src/client/recover';
import type { FerryConfig } from '../../src/config';
import { FerryError } from '../../src/contract/errors';
import { abortUpdate, pauseUpdate, type Actor } from '../../src/contract/messages';
import { canAbort, PHASES, type Phase } from '../../src/contract/phases';
import type { MigrationInput } from '../../src/contract/migration';
import { Scenario, send, sequence, useEnv, verified, type Handle } from './scenario';

const env = useEnv();

/** How to bring a migration to a phase and keep it there while the abort arrives. */
interface Stay {
  input?: Partial<MigrationInput>;
  setup?: (s: Scenario) => void;
  /** Resolves once the migration is in the phase; returns a release to call after the abort. */
  reach: (s: Scenario, h: Handle) => Promise<() => void>;
  /** Activity calls before the abort (the rollback, if any, follows them). */
  calls: string[];
}

const noop = () => {};
const PASS_1 = ['initBackfill#1', 'backfillChunk', 'backfillStatus'];

const STAYS: Record<Exclude<Phase, 'contracting' | 'completed' | 'aborted' | 'failed' | 'cancelled'>, Stay> = {
  // The abort lands while describeTarget runs; expand is never called.
  expanding: {
    reach: async (s) => {
      const g = s.gate('describeTarget');
      await g.entered;
      return g.release;
    },
    calls: ['describeTarget'],
  },
  'awaiting-deploy': {
    input: { dualWrite: 'app' },
    reach: async (s, h) => (await s.until(h, (p) => p.phase === 'awaiting-deploy' && p.waitingFor !== undefined, 'awaiting-deploy'), noop),
    calls: ['describeTarget', 'expand'],
  },
  // The chunk runs until the workflow asks it to stop.
  backfilling: {
    setup: (s) => s.chunkUntilStopped(),
    reach: async (s) => (await s.eventually(() => s.calls('backfillChunk') === 1, 'the chunk'), noop),
    calls: ['describeTarget', 'expand', 'initBackfill#1', 'backfillChunk', 'requestStop', 'backfillStatus'],
  },
  // Held in verifying: wrong rows after the catch-up pass.
  verifying: {
    setup: (s) => (s.impl.verify = sequence(verified(2))),
    reach: async (s, h) => (await s.until(h, (p) => p.paused && p.phase === 'verifying', 'the verify hold'), noop),
    calls: ['describeTarget', 'expand', ...PASS_1, 'verify', 'initBackfill#2', 'backfillChunk', 'backfillStatus', 'verify'],
  },
  'cooling-off': {
    input: { coolOffMs: 60_000 },
    reach: async (s, h) => (await s.until(h, (p) => p.phase === 'cooling-off' && p.waitingFor !== undefined, 'cooling-off'), noop),
    calls: ['describeTarget', 'expand', ...PASS_1, 'verify'],
  },
  'awaiting-approval': {
    input: { approvalRequired: true },
    reach: async (s, h) => (
      await s.until(h, (p) => p.phase === 'awaiting-approval' && p.waitingFor !== undefined, 'awaiting-approval'),
      noop
    ),
    calls: ['describeTarget', 'expand', ...PASS_1, 'verify'],
  },
};

test('the stays cover every phase the table lets abort', () => {
  expect(Object.keys(STAYS)).toEqual(PHASES.filter(canAbort));
});

const cases = Object.keys(STAYS).flatMap((phase) => [false, true].map((rollback) => [phase as keyof typeof STAYS, rollback] as const));

test.each(cases)('abort in %s (rollback: %s)', async (phase, rollback) => {
  const stay = STAYS[phase];
  const s = new Scenario(env);
  stay.setup?.(s);
  const actor: Actor & { rollback: boolean } = { by: 'jest', reason: `abort in ${phase}`, rollback };
  const done = await s.run(stay.input ?? {}, async (h) => {
    const release = await stay.reach(s, h);
    const accepted = await send(h, abortUpdate, actor);
    expect(accepted.phase).toBe(phase);
    expect(accepted.abort).toMatchObject({ by: 'jest', reason: `abort in ${phase}`, rollback });
    release();
    return h.result();
  });
  expect(done).toMatchObject({ phase: 'aborted', abort: { by: 'jest', rollback } });
  expect(s.log).toEqual([...stay.calls, ...(rollback ? ['rollback'] : [])]);
  expect(s.calls('contract')).toBe(0);
  if (rollback) expect(s.mocks.rollback.mock.calls[0][0]).toEqual({ name: expect.any(String), specHash: 'spec-1' });
});

test('abort is refused while contracting; the contract completes', async () => {
  const s = new Scenario(env);
  const g = s.gate('contract');
  const done = await s.run({}, async (h, input) => {
    await g.entered;
    const refused = await send(h, abortUpdate, { by: 'jest', rollback: true }).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(WorkflowUpdateFailedError);
    expect((refused as WorkflowUpdateFailedError).cause?.message).toBe(
      `migration "${input.name}" is contracting; it can no longer be aborted. Write a new migration to undo it.`,
    );
    g.release();
    return h.result();
  });
  expect(done.phase).toBe('completed');
  expect(done.abort).toBeUndefined();
  expect(s.calls('rollback')).toBe(0);
});

test('abort is refused once the migration has completed: by the server and by ferry abort', async () => {
  const s = new Scenario(env);
  await s.run({}, async (h, input) => {
    expect((await h.result()).phase).toBe('completed');
    // A closed workflow takes no updates at all.
    await expect(send(h, abortUpdate, { by: 'jest', rollback: true })).rejects.toBeInstanceOf(WorkflowNotFoundError);
    // `ferry abort` says why, with its conflict exit code.
    const fc = {
      client: env().t.client,
      config: {} as FerryConfig,
      caller: { identity: 'jest', proof: 'none' as const },
      close: async () => {},
    };
    const refused = await abortMigration(fc, input.name, { by: 'jest', rollback: true }).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(FerryError);
    expect(refused).toMatchObject({
      code: 'CONFLICT',
      exitCode: 3,
      message: `migration "${input.name}" is completed; there is nothing to abort. Write a new migration to undo it.`,
    });
    // Any other update on an ended run: a conflict that points at the next step.
    const paused = await control(fc, input.name, pauseUpdate, { by: 'jest' }).catch((err: unknown) => err);
    expect(paused).toMatchObject({ code: 'CONFLICT', message: expect.stringContaining('there is nothing to pause') });
  });
  expect(s.calls('rollback')).toBe(0);
});
