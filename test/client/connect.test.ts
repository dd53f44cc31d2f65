/**
 * ferry's CLI and worker connect through one set of options (temporalConnectionOptions): against the
 * dev server configured by env vars only and by a temporal.toml profile; and an API key reaches the
 * server as the `authorization` header, from the CLI's client and the worker's native connection
 * alike (seen by a local HTTP/2 listener that records the request headers).
 */
import fs from 'node:fs';
import http2 from 'node:http2';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { NativeConnection } from '@temporalio/worker';
import { loadConfig } from '../../src/config';
import { connectClient, temporalConnectionOptions } from '../../src/client/connect';

const address = process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233';
const home = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-home-'));

test('env only: the CLI client reaches the dev server, with the caller as its Temporal identity', async () => {
  const fc = await connectClient(loadConfig({ HOME: home, TEMPORAL_ADDRESS: address, TEMPORAL_NAMESPACE: 'default' }));
  try {
    const info = await fc.client.workflowService.getSystemInfo({});
    expect(info.serverVersion).toMatch(/^\d+\.\d+/);
    expect(fc.client.options.identity).toBe(fc.caller.identity);
    expect(fc.caller.identity).toBe(`${os.userInfo().username}@${os.hostname()}`);
  } finally {
    await fc.close();
  }
});

test('a temporal.toml profile (TEMPORAL_CONFIG_FILE + TEMPORAL_PROFILE): the client and the worker connection reach the server', async () => {
  const file = path.join(home, 'temporal.toml');
  fs.writeFileSync(file, `[profile.local]\naddress = "${address}"\nnamespace = "default"\n`);
  const config = loadConfig({ HOME: home, TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'local' });
  expect(config.address).toBe(address);
  const fc = await connectClient(config);
  await fc.close();
  const native = await NativeConnection.connect(temporalConnectionOptions(config).options);
  await native.close();
});

test('the dev server accepts a client with an API key and TEMPORAL_TLS=false (it ignores the header)', async () => {
  const fc = await connectClient(loadConfig({ HOME: home, TEMPORAL_ADDRESS: address, TEMPORAL_API_KEY: 'dev-key', TEMPORAL_TLS: 'false' }));
  expect(fc.caller).toEqual({ identity: 'api-key', proof: 'api-key' });
  await fc.close();
});

test('the API key is sent as "authorization: Bearer <key>" by the client and by the worker connection', async () => {
  const seen: string[] = [];
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    seen.push(String(headers.authorization));
    stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '16', 'grpc-message': 'no' }, { endStream: true });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const config = loadConfig({
    HOME: home,
    TEMPORAL_ADDRESS: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    TEMPORAL_API_KEY: 'secret-123',
    TEMPORAL_TLS: 'false',
  });
  try {
    await expect(connectClient(config)).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expect(seen).toContain('Bearer secret-123');
    seen.length = 0;
    await NativeConnection.connect(temporalConnectionOptions(config).options).then(
      (c) => c.close(),
      () => undefined,
    );
    expect(seen).toContain('Bearer secret-123');
  } finally {
    server.close();
  }
});

test('an unreachable server with TLS on: the message says how ferry connected, never the key', async () => {
  const err = await connectClient(loadConfig({ HOME: home, TEMPORAL_ADDRESS: '127.0.0.1:1', TEMPORAL_API_KEY: 'secret-456' })).catch(
    (e: Error) => e,
  );
  expect((err as Error).message).toContain('the Temporal server at "127.0.0.1:1" (TEMPORAL_ADDRESS) is unreachable');
  expect((err as Error).message).toContain('ferry tried with TLS and an API key');
  expect((err as Error).message).not.toContain('secret-456');
});
