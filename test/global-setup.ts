/**
 * jest globalSetup: brings up (or reuses) Temporal and PostgreSQL once for the whole run and tells
 * the test workers where they are through environment variables, which the workers inherit.
 */
import { startStack, type Stack } from '../devstack/stack';

/** Where the setup keeps the Stack for test/global-teardown.ts (both run in jest's parent process). */
export const STACK_GLOBAL = '__ferryTestStack';

/** The Stack started by globalSetup, if any. */
export function heldStack(): Stack | undefined {
  return (globalThis as Record<string, unknown>)[STACK_GLOBAL] as Stack | undefined;
}

/**
 * Starts the stack and sets `TEMPORAL_ADDRESS`, `TEMPORAL_NAMESPACE` and `FERRY_TEST_ADMIN_URL`
 * (admin PostgreSQL URL from which test/helpers/db.ts creates one database per test file).
 */
export default async function globalSetup(): Promise<void> {
  const started = Date.now();
  const stack = await startStack({ log: (line) => console.error(`ferry test stack: ${line}`) });
  (globalThis as Record<string, unknown>)[STACK_GLOBAL] = stack;
  process.env.TEMPORAL_ADDRESS = stack.temporalAddress;
  process.env.TEMPORAL_NAMESPACE = stack.namespace;
  process.env.FERRY_TEST_ADMIN_URL = stack.databaseUrl;
  console.error(`ferry test stack: ready in ${Date.now() - started} ms (Temporal ${stack.temporalAddress}, UI ${stack.uiUrl})`);
}
