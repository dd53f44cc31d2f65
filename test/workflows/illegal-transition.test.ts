/**
 * A phase change the table does not allow is a bug: it fails the workflow task (Temporal retries
 * it), never the migration and never a pause; a worker with fixed code replays the history and the
 * migration goes on. The "bug" is a bundle whose table lacks backfilling → verifying.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bundleWorkflowCode, Worker, type WorkflowBundle } from '@temporalio/worker';
import { workflowId } from '../../src/config';
import type { migrationWorkflow } from '../../src/workflows';
import { WORKFLOWS_PATH } from '../../src/worker';
import { migrationInput, Scenario, useEnv } from './scenario';
import { uniqueTaskQueue } from '../helpers/temporal';

const env = useEnv();
const PHASES_TS = path.join(__dirname, '..', '..', 'src', 'contract', 'phases.ts');
const EDGE = "edge('backfilling', 'verifying', 'forward'),";
let broken: WorkflowBundle;
let dir: string | undefined;

afterAll(() => dir && fs.rmSync(dir, { recursive: true, force: true }));

beforeAll(async () => {
  const source = fs.readFileSync(PHASES_TS, 'utf8');
  expect(source).toContain(EDGE);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-broken-'));
  const file = path.join(dir, 'phases.ts');
  fs.writeFileSync(file, source.replace(EDGE, ''));
  // Every import of src/contract/phases (from workflows/ and from contract/migration.ts) gets the copy.
  broken = await bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH,
    logger: { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} },
    webpackConfigHook: (config) => ({
      ...config,
      resolve: { ...config.resolve, alias: { ...(config.resolve?.alias as object), [`${PHASES_TS.replace(/\.ts$/, '')}$`]: file } },
    }),
  });
});

test('an illegal transition fails the workflow task; fixed code replays and completes', async () => {
  const { t, bundle } = env();
  const s = new Scenario(env);
  const taskQueue = uniqueTaskQueue('wf-illegal');
  const input = migrationInput(taskQueue);
  const worker = (workflowBundle: WorkflowBundle) =>
    Worker.create({ connection: t.connection, namespace: t.namespace, taskQueue, workflowBundle, activities: s.mocks });
  const handle = await t.client.workflow.start<typeof migrationWorkflow>('migrationWorkflow', {
    taskQueue,
    workflowId: workflowId(input.name),
    args: [input],
    workflowTaskTimeout: '2s', // retry the failing task sooner than the default 10 s
  });
  try {
    await (
      await worker(broken)
    ).runUntil(async () => {
      await s.eventually(() => s.calls('backfillStatus') === 1, 'the end of the pass');
      let failure: string | undefined;
      for (let i = 0; i < 100 && failure === undefined; i++) {
        const { events } = await handle.fetchHistory();
        failure =
          events?.find((e) => e.workflowTaskFailedEventAttributes)?.workflowTaskFailedEventAttributes?.failure?.message ?? undefined;
        if (failure === undefined) await new Promise((r) => setTimeout(r, 100));
      }
      expect(failure).toContain('illegal phase transition backfilling → verifying');
      const { events } = await handle.fetchHistory();
      expect(events?.some((e) => e.workflowExecutionFailedEventAttributes)).toBe(false);
      expect((await handle.describe()).status.name).toBe('RUNNING');
    });
    expect(s.calls('verify')).toBe(0);
    const done = await (await worker(bundle)).runUntil(handle.result());
    expect(done).toMatchObject({ phase: 'completed', paused: false });
    // The fixed worker replays the pass from the history: nothing is run twice.
    expect(s.log).toEqual([
      'describeTarget',
      'expand',
      'initBackfill#1',
      'backfillChunk',
      'backfillStatus',
      'verify',
      'verify',
      'contract',
    ]);
  } finally {
    if ((await handle.describe()).status.name === 'RUNNING') await handle.terminate('test over');
  }
});
