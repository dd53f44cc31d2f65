/**
 * `pause` and `resume` in every phase that is not over, with mocked activities: the phase holds
 * while paused (no further activity runs, messages are still recorded), and goes on after resume.
 */
import { approveUpdate, deployedSignal, pauseUpdate, progressQuery, resumeUpdate } from '../../src/contract/messages';
import { isFinal, PHASES, type Phase } from '../../src/contract/phases';
import type { MigrationInput } from '../../src/contract/migration';
import { jestActor, Scenario, send, sequence, sleep, useEnv, verified, type Handle } from './scenario';

const env = useEnv();

/** How a pause lands in a phase, what the migration did until it held, and what it does after resume. */
interface Hold {
  input?: Partial<MigrationInput>;
  setup?: (s: Scenario) => void;
  /** Resolves when the pause should be sent; returns a release to call after it. */
  arrive: (s: Scenario, h: Handle) => Promise<() => void>;
  /** Runs while the migration holds (messages that must be recorded but not acted on yet). */
  whilePaused?: (s: Scenario, h: Handle) => Promise<void>;
  /** The phase the pause lands in, when not the one that holds. */
  pausedIn?: Phase;
  /** Every activity call until the hold. */
  held: string[];
  /** Every activity call after resume. */
  after: string[];
}

const noop = () => {};
const START = ['describeTarget', 'expand'];
const PASS_1 = ['initBackfill#1', 'backfillChunk', 'backfillStatus'];
const waiting = (phase: Phase) => async (s: Scenario, h: Handle) => (
  await s.until(h, (p) => p.phase === phase && p.waitingFor !== undefined, phase),
  noop
);

const HOLDS: Record<Exclude<Phase, 'completed' | 'aborted' | 'failed' | 'cancelled'>, Hold> = {
  // Paused while describeTarget runs: expand waits for resume.
  expanding: {
    arrive: async (s) => {
      const g = s.gate('describeTarget');
      await g.entered;
      return g.release;
    },
    held: ['describeTarget'],
    after: [...START, ...PASS_1, 'verify', 'verify', 'contract'],
  },
  // Paused while waiting for the deploy; the deploy signal sent meanwhile is kept, not probed.
  'awaiting-deploy': {
    input: { dualWrite: 'app' },
    arrive: waiting('awaiting-deploy'),
    whilePaused: async (s, h) => {
      await h.signal(deployedSignal, jestActor);
      await s.until(h, (p) => p.deployed, 'the deploy signal');
    },
    held: START,
    after: ['markDeploy', 'probeDualWrite', ...PASS_1, 'verify', 'verify', 'contract'],
  },
  // Paused while a chunk runs: the workflow asks it to stop, counts, and holds.
  backfilling: {
    setup: (s) => s.chunkUntilStopped(),
    arrive: async (s) => (await s.eventually(() => s.calls('backfillChunk') === 1, 'the chunk'), noop),
    held: [...START, 'initBackfill#1', 'backfillChunk', 'requestStop', 'backfillStatus'],
    after: ['backfillChunk', 'backfillStatus', 'verify', 'verify', 'contract'],
  },
  // Paused in backfilling while the last round is counted: the pass ends, verify waits for resume.
  verifying: {
    pausedIn: 'backfilling',
    arrive: async (s) => {
      const g = s.gate('backfillStatus');
      await g.entered;
      return g.release;
    },
    held: [...START, ...PASS_1],
    after: ['verify', 'verify', 'contract'],
  },
  // Paused during the cool-off, which ends while paused: the contract waits for resume.
  'cooling-off': {
    input: { coolOffMs: 1500 },
    arrive: waiting('cooling-off'),
    whilePaused: async (_s, h) => {
      const { coolOffUntil } = await h.query(progressQuery);
      await sleep(Math.max(0, Date.parse(coolOffUntil ?? '') - Date.now()) + 500);
    },
    held: [...START, ...PASS_1, 'verify'],
    after: ['verify', 'contract'],
  },
  // Paused while waiting for approval; the approval given meanwhile is kept.
  'awaiting-approval': {
    input: { approvalRequired: true },
    arrive: waiting('awaiting-approval'),
    whilePaused: async (_s, h) => {
      await send(h, approveUpdate);
    },
    held: [...START, ...PASS_1, 'verify'],
    after: ['verify', 'contract'],
  },
  // Paused while the contract's re-verify runs; it finds wrong rows, so the catch-up pass waits for resume.
  contracting: {
    setup: (s) => {
      s.impl.verify = sequence(verified(0), verified(2), verified(0));
    },
    arrive: async (s) => {
      const g = s.gate('verify', 2);
      await g.entered;
      return g.release;
    },
    held: [...START, ...PASS_1, 'verify', 'verify'],
    after: ['initBackfill#2', 'backfillChunk', 'backfillStatus', 'verify', 'contract'],
  },
};

test('the holds cover every phase that is not over', () => {
  expect(Object.keys(HOLDS)).toEqual(PHASES.filter((p) => !isFinal(p)));
});

test.each(Object.keys(HOLDS) as (keyof typeof HOLDS)[])('pause holds %s; resume goes on', async (phase) => {
  const c = HOLDS[phase];
  const s = new Scenario(env);
  c.setup?.(s);
  const done = await s.run(c.input ?? {}, async (h, input) => {
    const release = await c.arrive(s, h);
    const accepted = await send(h, pauseUpdate, { by: 'jest', reason: `hold ${phase}` });
    expect(accepted).toMatchObject({ phase: c.pausedIn ?? phase, paused: true });
    release();
    const held = await s.until(h, (p) => p.paused && (p.waitingFor ?? '').startsWith('"ferry resume'), 'the hold');
    expect(held).toMatchObject({ phase, pauseReason: `hold ${phase}`, waitingFor: `"ferry resume ${input.name}" (paused: hold ${phase})` });
    await c.whilePaused?.(s, h);
    await sleep(500);
    expect(s.log).toEqual(c.held);
    expect(await h.query(progressQuery)).toMatchObject({ phase, paused: true });
    const resumed = await send(h, resumeUpdate);
    expect(resumed).toMatchObject({ phase, paused: false });
    return h.result();
  });
  expect(done).toMatchObject({ phase: 'completed', paused: false });
  expect(s.log).toEqual([...c.held, ...c.after]);
});
