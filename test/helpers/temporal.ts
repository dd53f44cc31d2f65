/** Connections to the Temporal server that test/global-setup.ts exported as TEMPORAL_ADDRESS. */
import { randomBytes } from 'node:crypto';
import { Client } from '@temporalio/client';
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
