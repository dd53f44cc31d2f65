/** Connections to the Temporal server that test/global-setup.ts exported as TEMPORAL_ADDRESS. */
import { randomBytes } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { DefaultLogger, NativeConnection, Runtime, type LogLevel } from '@temporalio/worker';

/** A worker connection and a client on the test server. */
export interface TestTemporal {
  /** For `Worker.create({ connection })`; also usable by the client. */
  connection: NativeConnection;
  client: Client;
  address: string;
  namespace: string;
  close(): Promise<void>;
}

/**
 * Keeps worker logs at WARN (override with `FERRY_TEST_LOG_LEVEL=INFO`), unless the test file
 * already installed a Runtime: the SDK allows one install, before the first connection.
 */
function quietRuntime(): void {
  if (Runtime._instance) return;
  const level = (process.env.FERRY_TEST_LOG_LEVEL || 'WARN') as LogLevel;
  Runtime.install({ logger: new DefaultLogger(level) });
}

/**
 * Connects to `$TEMPORAL_ADDRESS` / `$TEMPORAL_NAMESPACE`. Close it in `afterAll`.
 *
 * @example
 * const t = await testTemporal();
 * const worker = await Worker.create({ connection: t.connection, namespace: t.namespace, taskQueue, ... });
 * await worker.runUntil(t.client.workflow.execute(myWorkflow, { taskQueue, workflowId: taskQueue }));
 * await t.close();
 */
export async function testTemporal(): Promise<TestTemporal> {
  const address = process.env.TEMPORAL_ADDRESS;
  if (!address) {
    throw new Error(
      'TEMPORAL_ADDRESS is not set; test/global-setup.ts sets it. Run tests through jest (`npx jest`), ' +
        'or set it to a Temporal frontend such as 127.0.0.1:7233.',
    );
  }
  const namespace = process.env.TEMPORAL_NAMESPACE || 'default';
  quietRuntime();
  const connection = await NativeConnection.connect({ address });
  const client = new Client({ connection, namespace });
  return { connection, client, address, namespace, close: () => connection.close() };
}

/** A task queue (and handy workflow id) no other test or run shares: `<prefix>-<pid>-<random>`. */
export function uniqueTaskQueue(prefix: string): string {
  return `${prefix}-${process.pid}-${randomBytes(4).toString('hex')}`;
}

/**
 * Every run's history of a workflow id on the test server, as JSON text with each payload's base64
 * `data` decoded, so that a search sees what the Web UI shows.
 * @throws when the server has no run of `workflowId` (a search in nothing would find nothing).
 * @example expect(await allHistories(`migration/${name}`)).not.toContain(PASSWORD);
 */
export async function allHistories(workflowId: string): Promise<string> {
  const connection = await Connection.connect({ address: process.env.TEMPORAL_ADDRESS });
  const client = new Client({ connection, namespace: process.env.TEMPORAL_NAMESPACE });
  const decode = (key: string, v: unknown) => (key === 'data' && typeof v === 'string' ? Buffer.from(v, 'base64').toString('utf8') : v);
  try {
    const texts: string[] = [];
    for await (const run of client.workflow.list({ query: `WorkflowId = "${workflowId}"` })) {
      const history = await client.workflow.getHandle(workflowId, run.runId).fetchHistory();
      texts.push(JSON.stringify(JSON.parse(historyToJSON(history)), decode));
    }
    if (texts.length === 0) throw new Error(`no run of workflow "${workflowId}" on ${process.env.TEMPORAL_ADDRESS}`);
    return texts.join('\n');
  } finally {
    await connection.close();
  }
}
