/**
 * Drives `migrationWorkflow` on the dev server with mocked activities, one worker and task queue
 * per test, durations set to milliseconds. A `Scenario` holds the mocks (typed from
 * `MigrationActivities`), a log of the activity calls in order, and gates that hold a chosen call
 * until the test releases it, so that a pause or abort lands in a known phase.
 * `FERRY_TEST_TIMING=1` prints each activity call with a timestamp.
 *
 * @example
 * const s = new Scenario(env);
 * s.impl.verify = sequence(verified(3), verified(0));
 * const done = await s.run({ dualWrite: 'trigger' }, async (h) => h.result());
 */
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { bundleWorkflowCode, Worker, type WorkflowBundle } from '@temporalio/worker';
import type { ChunkResult, MigrationActivities, VerifyResult, ProbeResult } from '../../src/contract/activities';
import type { MigrationInput } from '../../src/contract/migration';
import type { Progress } from '../../src/contract/progress';
import { progressQuery, type abortUpdate, type Actor } from '../../src/contract/messages';
import type { UpdateDefinition } from '@temporalio/common';
import * as sa from '../../src/contract/search-attributes';
import type { migrationWorkflow } from '../../src/workflows';
import { WORKFLOWS_PATH } from '../../src/worker';
import { workflowId } from '../../src/config';
import { testTemporal, uniqueTaskQueue, type TestTemporal } from '../helpers/temporal';

export type Handle = WorkflowHandle<typeof migrationWorkflow>;
type Name = keyof MigrationActivities;
type Mocks = { [K in Name]: jest.Mock<ReturnType<MigrationActivities[K]>, Parameters<MigrationActivities[K]>> };

/** The dev server connection and a workflow bundle, built once per test file. */
export interface Env {
  t: TestTemporal;
  bundle: WorkflowBundle;
}

/** Connects and bundles in `beforeAll`; closes in `afterAll`. Returns a getter for the tests. */
export function useEnv(): () => Env {
  let env: Env | undefined;
  beforeAll(async () => {
    const [t, bundle] = await Promise.all([testTemporal(), bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quietBundler })]);
    env = { t, bundle };
  });
  afterAll(async () => env?.t.close());
  return () => {
    if (!env) throw new Error('useEnv(): beforeAll has not run');
    return env;
  };
}

const quietBundler = { trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error, log() {} };

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A chunk result; `done` by default. */
export function chunk(over: Partial<ChunkResult> = {}): ChunkResult {
  return {
    rowsScanned: 10,
    rowsUpdated: 10,
    rowsFailed: 0,
    batches: 1,
    elapsedMs: 5,
    batchMsMedian: 5,
    batchSize: 100,
    throttledMs: 0,
    contendedMs: 0,
    contendedBatches: 0,
    done: true,
    stopped: 'done',
    ...over,
  };
}

export const verified = (wrongRows: number): VerifyResult => ({ wrongRows, failedRows: 0, checkedRows: 10, ranges: 1 });
export const probed = (badRows: number): ProbeResult => ({ badRows, checkedRows: 5, skipped: false });

/** An implementation answering its calls in turn, the last one again for any further call. */
export function sequence<T>(...results: T[]): () => Promise<T> {
  let i = 0;
  return async () => results[Math.min(i++, results.length - 1)];
}

/** A workflow input with millisecond durations: trigger mode, no approval, a 10 ms cool-off. */
export function migrationInput(name: string, over: Partial<MigrationInput> = {}): MigrationInput {
  return {
    name,
    table: '"public"."posts"',
    specHash: 'spec-1',
    dualWrite: 'trigger',
    coolOffMs: 10,
    approvalRequired: false,
    maxFailedRows: 0,
    concurrency: 1,
    startedBy: 'jest',
    settings: { chunkMs: 1000, heartbeatTimeoutMs: 60_000, probeWindowMs: 10, historyLimit: 2000, waitPollMs: 50 },
    ...over,
  };
}

interface Gate {
  nth: number;
  entered: Promise<void>;
  enter: () => void;
  released: Promise<void>;
  release: () => void;
}

/** One test's mocked activities, call log and gates. */
export class Scenario {
  /** What each activity does; replace an entry before `run` (or during it). */
  readonly impl: MigrationActivities;
  /** The jest mocks the worker calls (counts and arguments). */
  readonly mocks: Mocks;
  /** Activity calls in order: the name, `initBackfill#<pass>` for initBackfill. */
  readonly log: string[] = [];
  private readonly gates = new Map<Name, Gate>();
  /** Log `checkTurn` calls too (tests of the wait before expand). */
  logTurns = false;

  constructor(private readonly env: () => Env) {
    this.impl = {
      describeTarget: async () => ({ table: '"public"."posts"', key: ['id'], rowsEstimated: 10 }),
      expand: async () => ({ statements: 1, retries: 0 }),
      installDualWriteTrigger: async () => ({ statements: 1, retries: 0 }),
      dropDualWriteTrigger: async () => ({ statements: 1, retries: 0 }),
      markDeploy: async () => ({ xidMark: String(1000 + this.mocks.markDeploy.mock.calls.length) }),
      probeDualWrite: async () => probed(0),
      initBackfill: async () => ({ partitions: 1, rowsEstimated: 10 }),
      backfillChunk: async () => chunk(),
      requestStop: async () => undefined,
      backfillStatus: async () => ({ rowsScanned: 10, rowsUpdated: 10, rowsFailed: 0, done: true }),
      verify: async () => verified(0),
      contract: async () => ({ statements: 1, retries: 0 }),
      rollback: async () => ({ statements: 1, retries: 0 }),
      retryFailedRows: async () => ({ retried: 0, fixed: 0, remaining: 0 }),
      checkTurn: async () => ({ ready: true, waits: [] }),
    };
    const mock = <K extends Name>(name: K) =>
      jest.fn(async (...args: Parameters<MigrationActivities[K]>) => {
        const pass = name === 'initBackfill' ? `#${(args[0] as { pass: number }).pass}` : '';
        // checkTurn (before expand) is in the log only when a test asks for it (`logTurns`).
        if (name !== 'checkTurn' || this.logTurns) this.log.push(name + pass);
        if (process.env.FERRY_TEST_TIMING) console.log(`${Date.now() % 100000} ${name}${pass}`);
        const gate = this.gates.get(name);
        if (gate && this.mocks[name].mock.calls.length === gate.nth) {
          gate.enter();
          await gate.released;
        }
        return (this.impl[name] as (...a: unknown[]) => unknown)(...args);
      }) as unknown as Mocks[K];
    this.mocks = Object.fromEntries((Object.keys(this.impl) as Name[]).map((n) => [n, mock(n)])) as unknown as Mocks;
  }

  /** Holds the `nth` call of `name` until `release()`; `entered` resolves when that call starts. */
  gate(name: Name, nth = 1): Pick<Gate, 'entered' | 'release'> {
    let enter = () => {};
    let release = () => {};
    const entered = new Promise<void>((r) => (enter = r));
    const released = new Promise<void>((r) => (release = r));
    const gate = { nth, entered, enter, released, release };
    this.gates.set(name, gate);
    return gate;
  }

  /** Makes the first backfill chunk run until the workflow asks it to stop (pause, abort). */
  chunkUntilStopped(): void {
    const calls = () => this.mocks.backfillChunk.mock.calls.length;
    this.impl.backfillChunk = async () => {
      if (calls() > 1) return chunk();
      await this.eventually(() => this.mocks.requestStop.mock.calls.length > 0, 'requestStop');
      return chunk({ rowsScanned: 4, rowsUpdated: 4, done: false, stopped: 'stop-requested' });
    };
  }

  /** How many times `name` was called. */
  calls(name: Name): number {
    return this.mocks[name].mock.calls.length;
  }

  /** Polls `check` every 20 ms for up to `timeoutMs`. */
  async eventually(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!check()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}; activity calls: ${this.log.join(', ')}`);
      await sleep(20);
    }
  }

  /**
   * Starts the migration on its own task queue and worker, runs `body`, then releases every gate
   * and terminates the workflow if it still runs.
   */
  async run<T>(over: Partial<MigrationInput>, body: (h: Handle, input: MigrationInput) => Promise<T>): Promise<T> {
    const { t, bundle } = this.env();
    const taskQueue = uniqueTaskQueue('wf');
    const input = migrationInput(taskQueue, over);
    const worker = await Worker.create({
      connection: t.connection,
      namespace: t.namespace,
      taskQueue,
      workflowBundle: bundle,
      activities: this.mocks,
    });
    return worker.runUntil(async () => {
      const handle = await t.client.workflow.start<typeof migrationWorkflow>('migrationWorkflow', {
        taskQueue,
        workflowId: workflowId(input.name),
        args: [input],
        typedSearchAttributes: [
          { key: sa.MigrationName, value: input.name },
          { key: sa.MigrationTable, value: input.table },
          { key: sa.MigrationPhase, value: 'expanding' },
          { key: sa.MigrationPaused, value: false },
          { key: sa.MigrationSpecHash, value: input.specHash },
        ],
      });
      try {
        return await body(handle, input);
      } finally {
        for (const gate of this.gates.values()) gate.release();
        if ((await handle.describe()).status.name === 'RUNNING') await handle.terminate('test over');
      }
    });
  }

  /** Queries `progress` until `check` holds; returns that progress. */
  async until(handle: Handle, check: (p: Progress) => boolean, what: string, timeoutMs = 15_000): Promise<Progress> {
    const end = Date.now() + timeoutMs;
    let last: Progress | undefined;
    for (;;) {
      last = await handle.query(progressQuery).catch(() => last);
      if (last && check(last)) return last;
      if (Date.now() > end) {
        throw new Error(`timed out waiting for ${what}; progress ${JSON.stringify(last)}; activity calls: ${this.log.join(', ')}`);
      }
      await sleep(30);
    }
  }
}

/** The who and why the tests send with every signal and update. */
export const jestActor: Actor = { by: 'jest', reason: 'test' };

/**
 * Runs a control update (pause, resume, approve, finalize, abort) and returns its progress. The
 * updates take an optional actor, which `executeUpdate`'s overloads do not accept as such.
 */
export function send(
  h: Handle,
  update: UpdateDefinition<Progress, [Actor?]> | typeof abortUpdate,
  actor: Actor & { rollback?: boolean } = jestActor,
): Promise<Progress> {
  return h.executeUpdate(update as typeof abortUpdate, { args: [actor] });
}

/** The failure a failed migration ends with (its `MigrationFailed` ApplicationFailure). */
export async function failureOf(handle: Handle): Promise<{ type?: string; message: string }> {
  try {
    await handle.result();
  } catch (err) {
    if (err instanceof WorkflowFailedError && err.cause) return { type: (err.cause as { type?: string }).type, message: err.cause.message };
    throw err;
  }
  throw new Error('the workflow completed; expected it to fail');
}
