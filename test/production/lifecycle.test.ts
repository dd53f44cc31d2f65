/**
 * Production tier: the real Temporal server on PostgreSQL with mTLS required on its frontend
 * (test/helpers/production-temporal.ts). A client without a certificate the server's CA signed is
 * refused; the ferry CLI and `ferry worker`, configured only through Temporal's `TEMPORAL_*`
 * variables and `DATABASE_URL`, take a migration through its whole lifecycle.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from '@temporalio/client';
import { NativeConnection, type NativeConnectionOptions } from '@temporalio/worker';
import { createCertificateAuthority } from '../../devstack/certificates';
import { postsEndState } from '../helpers/faults';
import { slowPostsMigration, writeMigration } from '../helpers/fixtures';
import { runFerry } from '../helpers/harness';
import { productionTest, useProductionTemporal } from '../helpers/production-temporal';

const ROWS = 2_000;
const prod = useProductionTemporal({ database: 'prod_lifecycle', rows: ROWS, harnessAs: 'ferry-ci' });

/**
 * The server refused the handshake: a transport error at once (not a timeout), with the TLS alert
 * when the client reads it before the server hangs up, else how the connection ended, in the words
 * of the SDK's message or of hyper's error kind (`Kind(ConnectionReset)`: CI saw it for plain gRPC).
 */
const CLOSED_BY_SERVER =
  /^TransportError: .*(CertificateRequired|UnknownCA|BadCertificate|broken ?pipe|connection ?closed|connection ?reset)/i;

/**
 * The error a worker connection (Core's TLS, which names the alert) fails with, or undefined if it
 * connects. NativeConnection.connect calls GetSystemInfo.
 */
async function refusal(tls: NativeConnectionOptions['tls']): Promise<string | undefined> {
  try {
    const connection = await NativeConnection.connect({ address: prod.t.address, tls });
    await connection.close();
    return undefined;
  } catch (err) {
    return String(err);
  }
}

productionTest(
  'mTLS is required: no certificate, no TLS, or a certificate from another CA is refused',
  async () => {
    const ca = fs.readFileSync(prod.t.caCertPath);
    const alice = prod.t.issueClientCert('alice');
    const withCert = { crt: fs.readFileSync(alice.certPath), key: fs.readFileSync(alice.keyPath) };
    expect(await refusal({ serverNameOverride: prod.t.serverName, serverRootCACertificate: ca, clientCertPair: withCert })).toBeUndefined();

    expect(await refusal({ serverNameOverride: prod.t.serverName, serverRootCACertificate: ca })).toMatch(CLOSED_BY_SERVER);
    expect(await refusal(undefined)).toMatch(CLOSED_BY_SERVER); // plain gRPC to a TLS port
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-other-ca-'));
    try {
      const stranger = createCertificateAuthority(dir).issueClientCert('mallory');
      const clientCertPair = { crt: fs.readFileSync(stranger.certPath), key: fs.readFileSync(stranger.keyPath) };
      expect(await refusal({ serverNameOverride: prod.t.serverName, serverRootCACertificate: ca, clientCertPair })).toMatch(
        CLOSED_BY_SERVER,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }

    // ferry itself, with the server's CA but no client certificate: refused, and it says where it tried.
    const { TEMPORAL_TLS_CLIENT_CERT_PATH: _cert, TEMPORAL_TLS_CLIENT_KEY_PATH: _key, ...noCert } = prod.h.env;
    const refused = await runFerry(['list'], noCert);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(prod.t.address);
  },
  120_000,
);

productionTest(
  'a whole migration with the CLI and worker configured only by TEMPORAL_* and DATABASE_URL',
  async () => {
    // Nothing but Temporal's own variables tells ferry where Temporal is (the dev server's are replaced).
    const temporalVars = Object.keys(prod.h.env).filter((key) => key.startsWith('TEMPORAL_'));
    expect(temporalVars.sort()).toEqual(Object.keys(prod.t.env('ferry-ci')).sort());
    expect(prod.h.env.DATABASE_URL).toBe(prod.db.url);

    const name = writeMigration(prod.h, 'lifecycle', slowPostsMigration({ batchSize: 200, pause: '10ms', approval: true }));
    const worker = await prod.h.startWorker();
    expect(worker.output()).toContain(prod.t.address);

    const started = await prod.h.ferry('start', name, '--wait-for', 'expanded', '--cool-off', '1s');
    expect(started).toMatchObject({ code: 0 });
    const listed = JSON.parse((await prod.h.ferry('list', '--json')).stdout); // SQL visibility, ferry's search attributes
    expect(listed).toEqual(expect.arrayContaining([expect.objectContaining({ name, status: 'RUNNING' })]));

    expect((await prod.h.waitForPhase('lifecycle', 'awaiting-approval', 180_000)).phase).toBe('awaiting-approval');
    expect((await prod.h.ferry('approve', name)).code).toBe(0);
    expect(await prod.h.waitForPhase('lifecycle', 'completed', 120_000)).toMatchObject({ phase: 'completed', rowsDone: ROWS });
    expect(await postsEndState(prod.db.pool, name, ROWS)).toEqual({ rowsWrong: 0, rowsTwice: 0, rowsLost: 0, failedRows: 0 });

    // The workflow ran on the production server (not on the dev server the rest of the suite uses).
    const connection = await prod.t.connect('ferry-check');
    try {
      const description = await new Client({ connection, namespace: prod.t.namespace }).workflow.getHandle(`migration/${name}`).describe();
      expect(description.status.name).toBe('COMPLETED');
    } finally {
      await connection.close();
    }
  },
  600_000,
);
