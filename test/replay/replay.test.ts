/**
 * Replays every recorded history in test/fixtures/histories against the current workflow code.
 * A change that running migrations could not replay (a new activity call, a reordered timer…)
 * fails here: put it behind `patched()`. Record new fixtures with scripts/record-histories.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode, Worker, type WorkflowBundle } from '@temporalio/worker';
import { WORKFLOWS_PATH } from '../../src/worker';

const DIR = path.join(__dirname, '..', 'fixtures', 'histories');
const files = fs
  .readdirSync(DIR)
  .filter((f) => f.endsWith('.json'))
  .sort();

let bundle: WorkflowBundle;

beforeAll(async () => {
  bundle = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: undefined });
});

test('there are recorded histories to replay', () => {
  expect(files.length).toBeGreaterThanOrEqual(4);
});

test.each(files)('replays %s', async (file) => {
  const history = JSON.parse(fs.readFileSync(path.join(DIR, file), 'utf8'));
  await expect(Worker.runReplayHistory({ workflowBundle: bundle }, history, `replay-${file}`)).resolves.toBeUndefined();
});
