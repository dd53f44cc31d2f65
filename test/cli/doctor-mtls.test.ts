/**
 * One temporal.toml profile serves `temporal` and `ferry` alike: on the production-shaped Temporal
 * with mTLS required (test/helpers/production-temporal.ts), a profile with the client certificate,
 * key, CA and server name, selected by TEMPORAL_CONFIG_FILE + TEMPORAL_PROFILE, lets the Temporal
 * CLI list workflows and `ferry doctor` report TLS, the certificate's subject and the server's
 * version. A profile naming a certificate file that is not there: exit 2, naming the file.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { findTemporalCli } from '../../devstack/temporal-cli';
import type { DoctorReport } from '../../src/cli/doctor';
import { runFerry } from '../helpers/harness';
import { productionTest, useProductionTemporal } from '../helpers/production-temporal';

const prod = useProductionTemporal({ database: 'doctor_mtls' });
let dir: string;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-profile-'));
});

afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

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
