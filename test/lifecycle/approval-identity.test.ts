/**
 * Who approved is proven, not typed: on the production-shaped Temporal with mTLS required, the
 * CLI runs as alice, bob and carol, each with a client certificate of their own, configured only
 * through TEMPORAL_* (test/helpers/production-temporal.ts). The migration says
 * `contract.approval: { notBy: 'starter', by: ['CN=alice', 'CN=bob'] }`: alice starts it and may
 * not approve it, whatever `--by` she types; carol is not listed; bob's approval goes through.
 * `ferry history` and Temporal's own history show the certificates' subjects.
 *
 * On the same server (one production-shaped server per file: each holds ~40 PostgreSQL
 * connections), one temporal.toml profile serves `temporal` and `ferry doctor` alike.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from '@temporalio/client';
import { findTemporalCli } from '../../devstack/temporal-cli';
import type { DoctorReport } from '../../src/cli/doctor';
import { postsEndState } from '../helpers/faults';
import { slowPostsMigration, writeMigration } from '../helpers/fixtures';
import { runFerry } from '../helpers/harness';
import { productionTest, useProductionTemporal } from '../helpers/production-temporal';

const ROWS = 500;
const prod = useProductionTemporal({ database: 'approval_identity', rows: ROWS, harnessAs: 'ferry-worker' });
let dir: string;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-profile-'));
});

afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** The CLI as `cn`: the harness's env with that person's certificate. */
const as = (cn: string, ...args: string[]) => runFerry(args, { ...prod.h.env, ...prod.t.env(cn) });

productionTest(
  'under mTLS: the starter may not approve, an unlisted person may not, a listed second person may; the subjects are recorded',
  async () => {
    const source = slowPostsMigration({ batchSize: 100, pause: '5ms' }).replace(
      'approval: false',
      "approval: { notBy: 'starter', by: ['CN=alice', 'CN=bob'] }",
    );
    const name = writeMigration(prod.h, 'two-people', source);
    await prod.h.startWorker();
    expect(await as('alice', 'start', name, '--wait-for', 'expanded', '--cool-off', '1s')).toMatchObject({ code: 0 });
    expect((await prod.h.waitForPhase('two-people', 'awaiting-approval', 180_000)).phase).toBe('awaiting-approval');

    const byAlice = await as('alice', 'approve', name, '--by', 'bob'); // typing another name changes nothing
    expect(byAlice.code).toBe(3);
    expect(byAlice.stderr).toContain(
      `migration "${name}" was started by "CN=alice", and contract.approval.notBy "starter" needs a second person`,
    );
    const byCarol = await as('carol', 'approve', name);
    expect(byCarol.code).toBe(3);
    expect(byCarol.stderr).toContain(
      `"CN=carol" may not approve migration "${name}": contract.approval.by allows only "CN=alice", "CN=bob"`,
    );
    const audit = JSON.parse((await as('bob', 'history', name, '--json')).stdout) as { action: string }[];
    expect(audit.map((e) => e.action)).not.toContain('approved'); // refusals record nothing

    expect(await as('bob', 'approve', name, '--by', 'bob', '--reason', 'reviewed')).toMatchObject({ code: 0 });
    expect(await prod.h.waitForPhase('two-people', 'completed', 120_000)).toMatchObject({ phase: 'completed', rowsDone: ROWS });
    expect(await postsEndState(prod.db.pool, name, ROWS)).toEqual({ rowsWrong: 0, rowsTwice: 0, rowsLost: 0, failedRows: 0 });

    const trail = JSON.parse((await as('carol', 'history', name, '--json')).stdout) as { action: string; by: string; identity?: string }[];
    expect(trail).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ action: 'started', identity: 'CN=alice' }),
        expect.objectContaining({ action: 'approved', by: 'bob', identity: 'CN=bob' }),
      ]),
    );
    expect((await as('carol', 'history', name)).stdout).toMatch(/approved\s+bob \[CN=bob\]/);

    // Temporal's own history shows the same identities: the client's `identity` is the subject.
    const connection = await prod.t.connect('auditor');
    try {
      const history = await new Client({ connection, namespace: prod.t.namespace }).workflow.getHandle(`migration/${name}`).fetchHistory();
      const events = history.events ?? [];
      expect(events[0].workflowExecutionStartedEventAttributes?.identity).toBe('CN=alice');
      const accepted = events.filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes);
      expect(accepted.map((e) => e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.meta?.identity)).toEqual(['CN=bob']);
      // Neither a key nor a certificate travels with the identity.
      const text = JSON.stringify(history, (key, v) =>
        key === 'data' && typeof v === 'string' ? Buffer.from(v, 'base64').toString('utf8') : v,
      );
      expect(text).toContain('reviewed'); // payloads decoded: bob's --reason
      expect(text).not.toMatch(/PRIVATE KEY|BEGIN CERTIFICATE/);
    } finally {
      await connection.close();
    }
  },
  600_000,
);

/** A temporal.toml with profile `prod` for `cn` (and `broken`, whose certificate file is missing). */
function writeProfiles(cn: string): string {
  const pair = prod.t.issueClientCert(cn);
  const tls = (cert: string) =>
    `client_cert_path = "${cert}"\nclient_key_path = "${pair.keyPath}"\nserver_ca_cert_path = "${prod.t.caCertPath}"\nserver_name = "${prod.t.serverName}"\n`;
  const file = path.join(dir, 'temporal.toml');
  fs.writeFileSync(
    file,
    `[profile.prod]\naddress = "${prod.t.address}"\nnamespace = "${prod.t.namespace}"\n[profile.prod.tls]\n${tls(pair.certPath)}\n` +
      `[profile.broken]\naddress = "${prod.t.address}"\nnamespace = "${prod.t.namespace}"\n[profile.broken.tls]\n${tls(path.join(dir, 'gone.pem'))}`,
  );
  return file;
}

/** The test env without the dev server's TEMPORAL_* variables: only the profile says where Temporal is. */
function profileEnv(file: string, profile: string): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TEMPORAL_')));
  return { ...env, HOME: dir, DATABASE_URL: prod.db.url, TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: profile };
}

productionTest(
  'one temporal.toml profile for the Temporal CLI and ferry doctor, over mTLS',
  async () => {
    const file = writeProfiles('ops-alice');
    const env = profileEnv(file, 'prod');
    const cli = await findTemporalCli();
    // The Temporal CLI reads the same profile (its own envconfig), and reaches the server with it.
    execFileSync(cli, ['workflow', 'list', '--limit', '1'], { env, stdio: 'pipe' });
    // ... and not a default: with the profile whose certificate file is missing, it fails too.
    expect(() => execFileSync(cli, ['workflow', 'list', '--limit', '1'], { env: profileEnv(file, 'broken'), stdio: 'pipe' })).toThrow(
      /gone\.pem/,
    );

    const r = await runFerry(['doctor', '--json'], env);
    expect([r.code, r.stderr]).toEqual([0, '']);
    const report = JSON.parse(r.stdout) as DoctorReport;
    const temporal = report.checks.find((c) => c.check === 'temporal');
    expect(temporal?.details).toMatchObject({
      address: prod.t.address,
      namespace: prod.t.namespace,
      profile: 'prod',
      configFile: file,
      tls: true,
      clientCert: 'CN=ops-alice',
      serverName: prod.t.serverName,
      serverCa: true,
      apiKey: false,
      identity: 'CN=ops-alice',
      serverVersion: '1.29.1',
    });
    expect(report.checks.find((c) => c.check === 'search attributes')?.status).toBe('ok');
    expect(r.stdout).not.toContain('PRIVATE KEY');

    const broken = await runFerry(['doctor'], profileEnv(file, 'broken'));
    expect(broken.code).toBe(2);
    expect(broken.stdout).toContain(
      `FAIL  temporal           the file "${path.join(dir, 'gone.pem')}" of profile.broken.tls.client_cert_path of "${file}" (TEMPORAL_PROFILE=broken) does not exist`,
    );
  },
  300_000,
);
