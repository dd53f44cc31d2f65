/**
 * How ferry reads its Temporal connection (src/config.ts loadConfig + src/client/connect.ts
 * temporalConnectionOptions): Temporal's environment configuration, env vars over temporal.toml
 * profiles, with clear errors for missing files and profiles, and no secret in what it prints.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { defaultActor, loadConfig } from '../../src/config';
import { temporalConnectionOptions } from '../../src/client/connect';
import { apiKeySubject } from '../../src/client/identity';
import { FerryError } from '../../src/contract/errors';
import { selfSignedCerts } from './certs';

const certs = selfSignedCerts({ alice: '/O=Acme/CN=alice', ca: '/CN=Test CA' });
/** An env with no HOME: no ~/.config/temporalio/temporal.toml of the machine's user can leak in. */
const resolve = (env: Record<string, string>) => temporalConnectionOptions(loadConfig({ HOME: certs.dir, ...env }));
const jwt = (claims: object) =>
  ['{"alg":"none"}', JSON.stringify(claims), 'sig'].map((p, i) => (i < 2 ? Buffer.from(p).toString('base64url') : p)).join('.');

function tomlFile(text: string): string {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-toml-')), 'temporal.toml');
  fs.writeFileSync(file, text);
  return file;
}

function failure(fn: () => unknown): FerryError {
  try {
    fn();
  } catch (err) {
    return err as FerryError;
  }
  throw new Error('expected an error');
}

test('env only: address and namespace, no TLS, no key, the local user as identity', () => {
  const r = resolve({ TEMPORAL_ADDRESS: 'temporal.internal:7233', TEMPORAL_NAMESPACE: 'payments', FERRY_TASK_QUEUE: 'q' });
  expect(r.options).toEqual({ address: 'temporal.internal:7233', tls: undefined, apiKey: undefined, metadata: undefined });
  expect(r.summary).toMatchObject({
    address: 'temporal.internal:7233',
    namespace: 'payments',
    tls: false,
    apiKey: false,
    profile: 'default',
  });
  expect(r.caller).toEqual({ identity: `${os.userInfo().username}@${os.hostname()}`, proof: 'none' });
  expect(loadConfig({ HOME: certs.dir }).address).toBe('localhost:7233');
});

test('mTLS from env: the certificate pair and CA are read, the subject is the identity', () => {
  const r = resolve({
    TEMPORAL_ADDRESS: 'temporal.internal:7233',
    TEMPORAL_TLS_CLIENT_CERT_PATH: certs.cert('alice'),
    TEMPORAL_TLS_CLIENT_KEY_PATH: certs.key('alice'),
    TEMPORAL_TLS_SERVER_CA_CERT_DATA: fs.readFileSync(certs.cert('ca'), 'utf8'),
    TEMPORAL_TLS_SERVER_NAME: 'frontend.internal',
  });
  const tls = r.options.tls as {
    clientCertPair: { crt: Uint8Array; key: Uint8Array };
    serverRootCACertificate: Uint8Array;
    serverNameOverride: string;
  };
  expect(Buffer.from(tls.clientCertPair.crt).toString()).toBe(fs.readFileSync(certs.cert('alice'), 'utf8'));
  expect(Buffer.from(tls.clientCertPair.key).toString()).toBe(fs.readFileSync(certs.key('alice'), 'utf8'));
  expect(Buffer.from(tls.serverRootCACertificate).toString()).toContain('BEGIN CERTIFICATE');
  expect(tls.serverNameOverride).toBe('frontend.internal');
  expect(r.caller).toEqual({ identity: 'O=Acme, CN=alice', proof: 'mtls' });
  expect(r.summary).toMatchObject({ tls: true, clientCert: 'O=Acme, CN=alice', serverCa: true, serverName: 'frontend.internal' });
  expect(JSON.stringify(r.summary)).not.toContain('PRIVATE KEY');
});

test('a temporal.toml profile via TEMPORAL_CONFIG_FILE + TEMPORAL_PROFILE; env vars win over it', () => {
  const file = tomlFile(
    `[profile.default]\naddress = "wrong:1"\n\n[profile.prod]\naddress = "prod.internal:7233"\nnamespace = "payments"\n` +
      `[profile.prod.tls]\nclient_cert_path = "${certs.cert('alice')}"\nclient_key_path = "${certs.key('alice')}"\nserver_name = "frontend"\n`,
  );
  const r = resolve({ TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'prod' });
  expect(r.summary).toMatchObject({ address: 'prod.internal:7233', namespace: 'payments', profile: 'prod', configFile: file, tls: true });
  expect(r.caller.identity).toBe('O=Acme, CN=alice');
  expect(resolve({ TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'prod', TEMPORAL_NAMESPACE: 'other' }).summary.namespace).toBe('other');
  expect(resolve({ TEMPORAL_CONFIG_FILE: file }).summary.address).toBe('wrong:1');
});

test('the default file ~/.config/temporalio/temporal.toml is read, as the Temporal CLI reads it', () => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-home-'));
  fs.mkdirSync(path.join(home, '.config', 'temporalio'), { recursive: true });
  fs.writeFileSync(path.join(home, '.config', 'temporalio', 'temporal.toml'), '[profile.default]\naddress = "from-home:7233"\n');
  expect(loadConfig({ HOME: home }).address).toBe('from-home:7233');
});

test('a missing certificate file: the variable, the path and the next step; from a profile: the key and the file', () => {
  const missing = path.join(certs.dir, 'nope.pem');
  const e = failure(() => resolve({ TEMPORAL_TLS_CLIENT_CERT_PATH: missing, TEMPORAL_TLS_CLIENT_KEY_PATH: certs.key('alice') }));
  expect(e).toBeInstanceOf(FerryError);
  expect(e.code).toBe('BAD_INPUT');
  expect(e.message).toBe(
    `the file "${missing}" of TEMPORAL_TLS_CLIENT_CERT_PATH does not exist; fix the path, or give the PEM itself in TEMPORAL_TLS_CLIENT_CERT_DATA.`,
  );
  const file = tomlFile(`[profile.prod.tls]\nserver_ca_cert_path = "${missing}"\n`);
  const fromToml = failure(() => resolve({ TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'prod' }));
  expect(fromToml.message).toContain(`the file "${missing}" of profile.prod.tls.server_ca_cert_path of "${file}"`);
});

test('a certificate without its key, a key given as the certificate: refused, saying which', () => {
  expect(failure(() => resolve({ TEMPORAL_TLS_CLIENT_CERT_PATH: certs.cert('alice') })).message).toBe(
    'TEMPORAL_TLS_CLIENT_CERT_PATH (or _DATA, or tls.client_cert_path in temporal.toml) is set but TEMPORAL_TLS_CLIENT_KEY_PATH (or _DATA) is not: ' +
      'mTLS needs both the client certificate and its key; set the other one.',
  );
  const swapped = failure(() =>
    resolve({ TEMPORAL_TLS_CLIENT_CERT_PATH: certs.key('alice'), TEMPORAL_TLS_CLIENT_KEY_PATH: certs.key('alice') }),
  );
  expect(swapped.message).toMatch(/^the client certificate of TEMPORAL_TLS_CLIENT_CERT_PATH is not a PEM certificate/);
  expect(swapped.message).not.toContain('PRIVATE KEY');
});

test('a profile that is not there, a config file that is not there: named, with the next step', () => {
  const file = tomlFile('[profile.staging]\naddress = "s:7233"\n');
  expect(failure(() => loadConfig({ TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'prod' })).message).toBe(
    `TEMPORAL_PROFILE="prod", but the Temporal config file "${file}" has no profile "prod" (found: staging); ` +
      'set TEMPORAL_PROFILE to one of its profiles, or create it with "temporal config set --profile prod --prop address --value <host:port>".',
  );
  expect(failure(() => loadConfig({ TEMPORAL_CONFIG_FILE: '/nowhere/temporal.toml' })).message).toMatch(
    /^the Temporal config file "\/nowhere\/temporal.toml" \(TEMPORAL_CONFIG_FILE\) does not exist; fix the path/,
  );
  expect(failure(() => loadConfig({ HOME: certs.dir, TEMPORAL_PROFILE: 'prod' })).message).toContain(
    `there is no Temporal config file (looked for ${path.join(certs.dir, '.config', 'temporalio', 'temporal.toml')})`,
  );
  expect(failure(() => loadConfig({ TEMPORAL_CONFIG_FILE: tomlFile('[profile.x\n') })).message).toMatch(/cannot be read: .*; fix it/);
});

test('an API key: sent as the key, TLS on unless TEMPORAL_TLS=false, its JWT subject as identity, never printed', () => {
  const key = jwt({ sub: 'ci-bot@acme', exp: 9999999999 });
  const r = resolve({ TEMPORAL_ADDRESS: 'acme.a1b2c.tmprl.cloud:7233', TEMPORAL_API_KEY: key });
  expect(r.options).toMatchObject({ apiKey: key, tls: true });
  expect(r.caller).toEqual({ identity: 'api-key:ci-bot@acme', proof: 'api-key' });
  expect(JSON.stringify(r.summary)).not.toContain(key);
  expect(JSON.stringify(loadConfig({ TEMPORAL_API_KEY: key, DATABASE_URL: 'postgres://u:pw@h/db' }))).not.toMatch(new RegExp(`${key}|pw@`));
  expect(resolve({ TEMPORAL_API_KEY: 'opaque-secret', TEMPORAL_TLS: 'false' }).options.tls).toBe(false);
  // TEMPORAL_TLS=false wins over certificate settings, whose files are then not read.
  expect(
    resolve({ TEMPORAL_TLS: 'false', TEMPORAL_TLS_CLIENT_CERT_PATH: '/nope.pem', TEMPORAL_TLS_CLIENT_KEY_PATH: '/nope.key' }).options.tls,
  ).toBe(false);
  expect(resolve({ TEMPORAL_API_KEY: 'opaque-secret' }).caller.identity).toBe('api-key');
  expect(apiKeySubject('a.b.c')).toBeUndefined();
});

test("an empty variable is an unset one: a CI secret that is not defined (TEMPORAL_API_KEY='') turns nothing on", () => {
  const r = resolve({ TEMPORAL_ADDRESS: '127.0.0.1:7233', TEMPORAL_API_KEY: '', TEMPORAL_TLS_SERVER_NAME: '', TEMPORAL_NAMESPACE: '' });
  expect(r.options).toEqual({ address: '127.0.0.1:7233', tls: undefined, apiKey: undefined, metadata: undefined });
  expect(r.summary).toMatchObject({ namespace: 'default', tls: false, apiKey: false });
});

test('TEMPORAL_TLS_DISABLE_HOST_VERIFICATION: refused, the SDK cannot honour it; TEMPORAL_TLS_SERVER_NAME instead', () => {
  expect(failure(() => resolve({ TEMPORAL_TLS: 'true', TEMPORAL_TLS_DISABLE_HOST_VERIFICATION: 'true' })).message).toContain(
    'set TEMPORAL_TLS_SERVER_NAME to the name in the server',
  );
  expect(resolve({ TEMPORAL_TLS: 'true', TEMPORAL_TLS_DISABLE_HOST_VERIFICATION: 'false' }).options.tls).toEqual(expect.any(Object));
});

test('the default --by: FERRY_USER, else a proven identity, else user@host', () => {
  const bob = { identity: 'CN=bob', proof: 'mtls' };
  expect(defaultActor({ FERRY_USER: 'ci' }, bob)).toBe('ci');
  expect(defaultActor({}, bob)).toBe('CN=bob');
  expect(defaultActor({ USER: 'eve' }, { identity: 'eve@laptop', proof: 'none' })).toBe(`eve@${os.hostname()}`);
});
