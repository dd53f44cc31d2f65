/**
 * An API key never reaches the workflow: `ferry start` and `ferry deployed` with TEMPORAL_API_KEY
 * (a JWT; the dev server ignores the header) record the key's subject as the caller's identity
 * (in the input, the audit trail's signal payload and Temporal's own `identity` fields), and the
 * key itself appears nowhere in the history.
 */
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { createCountedPosts, slowPostsMigration, writeMigration } from '../helpers/fixtures';
import { createHarness, type Harness } from '../helpers/harness';
import { testTemporal, type TestTemporal } from '../helpers/temporal';

const b64 = (text: string) => Buffer.from(text).toString('base64url');
const API_KEY = `${b64('{"alg":"HS256"}')}.${b64('{"sub":"ci-bot@acme","exp":9999999999}')}.c2lnbmF0dXJlLU5FVkVSLWluLWhpc3Rvcnk`;

let db: TestDatabase;
let h: Harness;
let t: TestTemporal;

beforeAll(async () => {
  db = await createTestDatabase('api_key_history');
  await createCountedPosts(db.pool, 10);
  h = createHarness(db, {}, { TEMPORAL_API_KEY: API_KEY, TEMPORAL_TLS: 'false', FERRY_USER: '' });
  t = await testTemporal();
});

afterAll(async () => {
  await h?.close();
  await db?.drop();
  await t?.close();
});

test("the key's subject is the identity everywhere; the key is nowhere in the history", async () => {
  const name = writeMigration(h, 'api-key', slowPostsMigration());
  const started = await h.ferry('start', name); // no worker: the start and the signal are recorded all the same
  expect([started.code, started.stderr]).toEqual([0, '']);
  expect((await h.ferry('deployed', name)).code).toBe(0);
  const handle = t.client.workflow.getHandle(`migration/${name}`);
  try {
    const history = await handle.fetchHistory();
    const events = history.events ?? [];
    expect(events[0].workflowExecutionStartedEventAttributes?.identity).toBe('api-key:ci-bot@acme');
    const signal = events.find((e) => e.workflowExecutionSignaledEventAttributes)?.workflowExecutionSignaledEventAttributes;
    expect(signal?.identity).toBe('api-key:ci-bot@acme');
    const payload = (p: { data?: Uint8Array | null } | undefined) => JSON.parse(Buffer.from(p?.data ?? []).toString('utf8'));
    const input = payload(events[0].workflowExecutionStartedEventAttributes?.input?.payloads?.[0]);
    expect(input).toMatchObject({ startedIdentity: 'api-key:ci-bot@acme', startedBy: 'api-key:ci-bot@acme' }); // no --by, no FERRY_USER
    expect(payload(signal?.input?.payloads?.[0])).toEqual({ by: 'api-key:ci-bot@acme', identity: 'api-key:ci-bot@acme' });
    const text = JSON.stringify(JSON.parse(historyToJSON(history)), (key, v) =>
      key === 'data' && typeof v === 'string' ? Buffer.from(v, 'base64').toString('utf8') : v,
    );
    expect(text).not.toContain(API_KEY);
    expect(text).not.toContain('c2lnbmF0dXJlLU5FVkVSLWluLWhpc3Rvcnk');
  } finally {
    await handle.terminate('test over');
  }
});
