/**
 * Fault: the Temporal server SIGKILLed in the middle of the backfill and restarted 20 s later on
 * the same database file. Runs on a PRIVATE dev server this test starts on ports of its own (never
 * the shared one on 7233). The worker reconnects by itself; the migration completes with every row
 * updated once.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { ensureDevServer, type DevServer } from '../../devstack/dev-server';
import { checkpointTotals, eventually, slowPostsMigration, usePostsHarness, writeMigration } from '../helpers/fixtures';
import { expectEveryRowOnce, SLOW_SET, timeToProgress } from '../helpers/faults';
import { createHarness, type Harness } from '../helpers/harness';

const ROWS = 3_000;
const DOWN_MS = 20_000;
const dir = path.join('/tmp', `ferry-fault-temporal-${process.pid}-${randomBytes(3).toString('hex')}`);
const dbFile = path.join(dir, 'temporal.db');
const ctx = usePostsHarness('fault_temporal', ROWS, { worker: false });
let ports: { port: number; uiPort: number };
let server: DevServer | undefined;
let h: Harness;

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

/** The pid listening on 127.0.0.1:`port` (the dev server this test started). */
function listenerPid(port: number): number {
  const out = execFileSync('ss', ['-Hltnp', `sport = :${port}`], { encoding: 'utf8' });
  const pid = Number(/pid=(\d+)/.exec(out)?.[1]);
  if (!pid) throw new Error(`no process listens on port ${port}: ${out}`);
  return pid;
}

const start = () => ensureDevServer({ ...ports, dbFile, log: () => undefined });

beforeAll(async () => {
  fs.mkdirSync(dir, { recursive: true });
  ports = { port: await freePort(), uiPort: await freePort() };
  server = await start();
  expect(server.started).toBe(true);
  h = createHarness(ctx.db, {}, { TEMPORAL_ADDRESS: server.address });
}, 180_000);

afterAll(async () => {
  await h?.close();
  await server?.stop().catch(() => undefined);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('the Temporal server SIGKILLed mid-backfill and restarted 20 s later: the worker reconnects, every row once', async () => {
  // 2,400 rows left after the first fifth, 20 a batch, 400 ms apart: at least 48 s however fast the machine, against a
  // 20 s outage, so the backfill is still running when the server is back (the worker goes on meanwhile, CI saw it finish).
  const name = writeMigration(h, 'temporal', slowPostsMigration({ batchSize: 20, pause: '400ms', approval: true, set: SLOW_SET }));
  const worker = await h.startWorker();
  expect((await h.ferry('start', name, '--cool-off', '1s')).code).toBe(0);
  const rowsDone = async () => (await checkpointTotals(ctx.db.pool, name)).rows;

  await eventually('a fifth of the backfill', async () => (await rowsDone()) >= ROWS / 5);
  process.kill(listenerPid(ports.port), 'SIGKILL');
  await new Promise((r) => setTimeout(r, DOWN_MS));
  const at = await rowsDone();
  server = await start(); // same ports, same database file
  const recoveryMs = await timeToProgress(rowsDone, at, { worker, timeoutMs: 180_000 });

  expect((await h.waitForPhase('temporal', 'awaiting-approval', 180_000)).phase).toBe('awaiting-approval');
  expect((await h.ferry('approve', name)).code).toBe(0);
  const done = await h.waitForPhase('temporal', 'completed', 120_000);
  expect(worker.proc.exitCode).toBeNull(); // the same worker, reconnected

  await expectEveryRowOnce(ctx.db.pool, name, {
    scenario: 'Temporal server SIGKILLed mid-backfill, restarted 20 s later',
    faults: 'SIGKILL of a private Temporal dev server during the backfill; restarted on the same database file after 20 s',
    rows: ROWS,
    phase: done.phase,
    recoveryMs,
  });
}, 600_000);
