/**
 * Fault: the Temporal server is down. `ferry status` names the address it could not reach, says
 * that running migrations are not lost and that workers reconnect by themselves, and exits 1.
 */
import net from 'node:net';
import { runFerry } from '../helpers/harness';

/** A port nothing listens on: bound, then closed. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

test('status with the Temporal server unreachable: the address, unreachable, workers reconnect by themselves', async () => {
  const address = `127.0.0.1:${await closedPort()}`;
  const r = await runFerry(['status', 'any-migration'], { ...process.env, TEMPORAL_ADDRESS: address });
  expect(r.code).toBe(1);
  expect(r.stderr).toContain(`the Temporal server at "${address}" (TEMPORAL_ADDRESS) is unreachable`);
  expect(r.stderr).toContain('workers reconnect by themselves');
  expect(r.stderr).not.toMatch(/^\s+at /m); // no stack trace
});
