/**
 * A Temporal namespace where ferry's search attributes cannot be added: its SQL-visibility budget
 * (10 Keyword, 3 Bool, 3 Datetime…) is spent by the team's own attributes. Upserting an attribute
 * the namespace lacks fails every workflow task of the run (shown first); ferry's migrations there
 * upsert none, keep their attributes in the memo, and start, status and list work to the end.
 */
import { randomBytes } from 'node:crypto';
import { Client } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import { runSettings } from '../../src/config';
import type { MigrationInput } from '../../src/contract/migration';
import { MIGRATION_WORKFLOW } from '../../src/contract/workflow';
import { ATTRIBUTES_MEMO } from '../../src/contract/search-attributes';
import { LIST_QUERY } from '../../src/client/list';
import { createCountedPosts, eventually, slowPostsMigration, writeMigration } from '../helpers/fixtures';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { createHarness, type ChildWorker, type Harness } from '../helpers/harness';
import { testTemporal, type TestTemporal } from '../helpers/temporal';

const { IndexedValueType } = temporal.api.enums.v1;
const { EventType, WorkflowTaskFailedCause } = temporal.api.enums.v1;
const NS = `ferry-no-sa-${randomBytes(3).toString('hex')}`;

let t: TestTemporal;
let db: TestDatabase;
let h: Harness;
const workers: ChildWorker[] = [];

/** The team's own attributes: every Keyword, Bool and Datetime slot of the namespace. */
function teamAttributes(): Record<string, temporal.api.enums.v1.IndexedValueType> {
  const slots = [
    ['Keyword', 10, IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD],
    ['Bool', 3, IndexedValueType.INDEXED_VALUE_TYPE_BOOL],
    ['Datetime', 3, IndexedValueType.INDEXED_VALUE_TYPE_DATETIME],
  ] as const;
  return Object.fromEntries(slots.flatMap(([type, n, v]) => Array.from({ length: n }, (_, i) => [`Team${type}${i + 1}`, v])));
}

beforeAll(async () => {
  t = await testTemporal();
  await t.client.workflowService.registerNamespace({ namespace: NS, workflowExecutionRetentionPeriod: msToTs('1 day') });
  const operator = t.client.connection.operatorService;
  // A new namespace takes a moment to reach every service of the server.
  await eventually('the namespace to take search attributes', async () => {
    await operator.addSearchAttributes({ namespace: NS, searchAttributes: teamAttributes() });
    return true;
  });
  const custom = (await operator.listSearchAttributes({ namespace: NS })).customAttributes ?? {};
  expect(Object.keys(custom).filter((n) => n.startsWith('Migration'))).toEqual([]);
  db = await createTestDatabase('ui_no_sa');
  await createCountedPosts(db.pool, 1000);
  h = createHarness(db, {}, { TEMPORAL_NAMESPACE: NS });
});

afterAll(async () => {
  await h?.close();
  await db?.drop();
  await t?.client.connection.operatorService.deleteNamespace({ namespace: NS }).catch(() => undefined);
  await t?.close();
});

test("the budget is spent: ferry's attributes cannot be added there", async () => {
  const add = t.client.connection.operatorService.addSearchAttributes({
    namespace: NS,
    searchAttributes: { MigrationPhase: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD },
  });
  await expect(add).rejects.toThrow(/Keyword/i);
});

test('a run that upserts an attribute the namespace lacks fails its workflow tasks (what the guard prevents)', async () => {
  const worker = await h.startWorker();
  workers.push(worker);
  expect(worker.output()).toContain(`Temporal namespace "${NS}" lacks ferry's search attributes MigrationName`);
  // The input of a client from before the guard: no missingSearchAttributes, so the run upserts all.
  const input: MigrationInput = {
    ...{ name: 'unguarded', table: '"public"."posts"', specHash: 'x', dualWrite: 'trigger', coolOffMs: 0 },
    ...{ approvalRequired: false, maxFailedRows: 0, concurrency: 1, startedBy: 'jest', settings: runSettings() },
  };
  const client = new Client({ connection: t.client.connection, namespace: NS });
  const handle = await client.workflow.start(MIGRATION_WORKFLOW, {
    workflowId: `unguarded-${randomBytes(3).toString('hex')}`,
    taskQueue: h.env.FERRY_TASK_QUEUE!,
    args: [input],
  });
  try {
    await eventually('a failed workflow task', async () => {
      const events = (await handle.fetchHistory()).events ?? [];
      const failed = events.find((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED)?.workflowTaskFailedEventAttributes;
      return (
        failed?.cause === WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_BAD_SEARCH_ATTRIBUTES &&
        /no mapping defined for search attribute Migration/.test(failed.failure?.message ?? '')
      );
    });
  } finally {
    await handle.terminate('test: the unguarded run never gets past its first workflow task');
  }
});

test('start, status and list work through to completed, from the memo', async () => {
  const name = writeMigration(h, 'no-sa', slowPostsMigration({ batchSize: 200 }));
  await Promise.all(workers.splice(0).map((w) => w.stop()));
  workers.push(await h.startWorker()); // loads the new file
  const started = await h.ferry('start', name, '--cool-off', '1s', '--wait-for', 'expanded');
  expect(started.code).toBe(0);
  expect(started.stdout).toContain(`migration ${name} started`);
  expect(started.stderr.match(/lacks ferry's search attributes/g)).toHaveLength(1); // said once
  expect(started.stderr).toContain(`tcld namespace search-attributes add --namespace ${NS} --search-attribute MigrationName=Keyword`);

  const listed = await h.ferry('list', '--json');
  expect(listed.code).toBe(0);
  expect(listed.stderr).toContain("lacks ferry's search attributes");
  const row = JSON.parse(listed.stdout).find((r: { name: string }) => r.name === name);
  expect(row).toMatchObject({ table: '"public"."posts"' });
  expect(row.phase).not.toBe(''); // from the memo: the run has no MigrationPhase

  const done = await h.waitForPhase('no-sa', 'completed', 90_000);
  expect(done).toMatchObject({ phase: 'completed', rowsDone: 1000 });
  expect((await db.pool.query('SELECT count(*)::int AS n FROM posts WHERE member_uuid IS NULL')).rows[0].n).toBe(0);

  // The run never failed a workflow task, carries no custom search attribute, and its memo says completed.
  const client = new Client({ connection: t.client.connection, namespace: NS });
  const handle = client.workflow.getHandle(`migration/${name}`);
  const events = (await handle.fetchHistory()).events ?? [];
  expect(events.filter((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED)).toEqual([]);
  const d = await handle.describe();
  expect(d.memo?.[ATTRIBUTES_MEMO]).toMatchObject({ name, phase: 'completed', paused: false });

  // Without a worker, status and list still say completed (memo), and a second start is a no-op.
  await Promise.all(workers.splice(0).map((w) => w.stop()));
  const status = JSON.parse((await h.ferry('status', name, '--json')).stdout);
  expect(status).toMatchObject({ phase: 'completed', table: '"public"."posts"' });
  const list = JSON.parse((await h.ferry('list', '--json')).stdout);
  expect(list.find((r: { name: string }) => r.name === name)).toMatchObject({ phase: 'completed', status: 'COMPLETED' });
  const again = await h.ferry('start', name);
  expect(again.code).toBe(0);
  expect(again.stdout).toContain('already completed');
  expect(LIST_QUERY).toContain('STARTS_WITH "migration/"');
});
