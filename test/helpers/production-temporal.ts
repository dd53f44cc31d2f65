/**
 * The production-shaped Temporal (devstack/production-temporal.ts) for tests: the real server on
 * PostgreSQL with mTLS required, started per test file. Without Go the tests that need it are
 * skipped with a printed reason; without a build they build it first (minutes).
 */
import { Connection } from '@temporalio/client';
import type { CertPair } from '../../devstack/certificates';
import { findGo } from '../../devstack/go-install';
import { startProductionTemporal as startServer } from '../../devstack/production-temporal';
import { connectMtls } from '../../devstack/temporal-server-process';
import { TEMPORAL_SERVER_VERSION } from '../../devstack/temporal-server';
import { createTestDatabase, type TestDatabase } from './db';
import { createCountedPosts } from './fixtures';
import { createHarness, type Harness } from './harness';

/** A production-shaped Temporal server for one test file. */
export interface TestProductionTemporal {
  /** `127.0.0.1:<port>` (never the dev server's 7233). */
  address: string;
  namespace: string;
  /** The name the server's certificate is checked against. */
  serverName: string;
  caCertPath: string;
  /** A client certificate with subject `CN=<cn>`, signed by the CA the server trusts. */
  issueClientCert(cn: string): CertPair;
  /**
   * The `TEMPORAL_*` variables for a client with a certificate for `cn`: `TEMPORAL_ADDRESS`,
   * `TEMPORAL_NAMESPACE`, `TEMPORAL_TLS`, `TEMPORAL_TLS_CLIENT_CERT_PATH`, `TEMPORAL_TLS_CLIENT_KEY_PATH`,
   * `TEMPORAL_TLS_SERVER_CA_CERT_PATH`, `TEMPORAL_TLS_SERVER_NAME`. Spread them over a harness's env.
   */
  env(cn: string): Record<string, string>;
  /** A client connection over mTLS as `cn` (close it). */
  connect(cn: string): Promise<Connection>;
  /**
   * Stops the server process (SIGKILL by default: a crash) and starts it again on the same ports
   * and databases, `downMs` later; resolves once it answers over mTLS and knows the namespace.
   */
  restart(opts?: { signal?: NodeJS.Signals; downMs?: number }): Promise<void>;
  /** Stops the server, drops its databases, removes its files. Idempotent. */
  stop(): Promise<void>;
}

/** Why the production tier cannot run on this machine, or undefined when it can. */
export const productionSkipReason: string | undefined = findGo()
  ? undefined
  : `Go is not installed: the production-shaped Temporal tests build the Temporal server v${TEMPORAL_SERVER_VERSION} ` +
    `from source with it. Install Go (https://go.dev/dl/) to run them.`;

/**
 * `test`, or `test.skip` with the reason printed once when Go is missing.
 * @example productionTest('a full lifecycle over mTLS', async () => { ... }, 600_000);
 */
export const productionTest: typeof test = productionSkipReason ? test.skip : test;
if (productionSkipReason) process.stderr.write(`SKIPPED (production tier): ${productionSkipReason}\n`);

/**
 * Starts (building first when needed) a production-shaped Temporal server: its own databases on
 * the test PostgreSQL (`FERRY_TEST_ADMIN_URL`), mTLS required, namespace `ferry` with ferry's
 * search attributes. Stop it in `afterAll`.
 *
 * @example
 * let t: TestProductionTemporal;
 * beforeAll(async () => { t = await startProductionTemporal(); }, 900_000);
 * afterAll(() => t?.stop());
 * test('...', async () => { const h = createHarness(db, {}, t.env('ci')); ... });
 */
export async function startProductionTemporal(): Promise<TestProductionTemporal> {
  const server = await startServer({
    adminUrl: process.env.FERRY_TEST_ADMIN_URL,
    log: (line) => process.stderr.write(`ferry production temporal: ${line}\n`),
  });
  return {
    address: server.address,
    namespace: server.namespace,
    serverName: server.serverName,
    caCertPath: server.caCertPath,
    issueClientCert: server.issueClientCert,
    env: server.clientEnv,
    connect: (cn) => connectMtls(server.address, server.caCertPath, server.issueClientCert(cn)),
    restart: async ({ signal = 'SIGKILL', downMs = 0 } = {}) => {
      await server.stopServer(signal);
      if (downMs > 0) await new Promise((resolve) => setTimeout(resolve, downMs));
      await server.startServer();
    },
    stop: () => server.cleanup(),
  };
}

/** A production-tier test file's shared set-up, filled in by the `beforeAll` of `useProductionTemporal`. */
export interface ProductionSetup {
  t: TestProductionTemporal;
  db: TestDatabase;
  /** A harness whose env carries the certificate of `harnessAs` (set only with `harnessAs`). */
  h: Harness;
}

/**
 * Registers a production-tier test file's `beforeAll` / `afterAll`: the server, a database of its
 * own with `rows` counted posts (`createCountedPosts`), and a harness whose `TEMPORAL_*` variables
 * carry the certificate of `harnessAs`. Nothing is started when the tier is skipped.
 * @example const prod = useProductionTemporal({ database: 'prod_faults', rows: 3_000, harnessAs: 'ferry-worker' });
 */
export function useProductionTemporal(opts: { database: string; rows?: number; harnessAs?: string }): ProductionSetup {
  const setup: Partial<ProductionSetup> = {};
  beforeAll(async () => {
    if (productionSkipReason) return;
    const t = (setup.t = await startProductionTemporal());
    const db = (setup.db = await createTestDatabase(opts.database));
    if (opts.rows !== undefined) await createCountedPosts(db.pool, opts.rows);
    if (opts.harnessAs) setup.h = createHarness(db, {}, t.env(opts.harnessAs));
  }, 1_800_000); // the first run on a machine builds the server (minutes; 10 on a loaded 2-core machine)
  afterAll(async () => {
    await setup.h?.close();
    await setup.db?.drop();
    await setup.t?.stop();
  });
  return setup as ProductionSetup;
}
