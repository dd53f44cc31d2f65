/**
 * Fault: PostgreSQL restarted with `pg_ctl restart -m immediate` (a crash and recovery) in the
 * middle of the backfill. Runs on a PRIVATE cluster this test starts on a port of its own (never
 * the shared server): every connection of the worker drops and new ones are refused until the
 * server is back. The worker survives, the chunk is retried from its checkpoint, and the
 * migration completes with every row updated once.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { ensurePostgres, type Postgres } from '../../devstack/postgres';
import { migrateStore } from '../../src/store/migrate';
import { checkpointTotals, createCountedPosts, eventually, slowPostsMigration, writeMigration } from '../helpers/fixtures';
import { expectEveryRowOnce, SLOW_SET, timeToProgress } from '../helpers/faults';
import { createHarness, type Harness } from '../helpers/harness';

const ROWS = 3_000;
const stateDir = path.join('/tmp', `ferry-fault-pg-${process.pid}-${randomBytes(3).toString('hex')}`);
let server: Postgres;
let pool: pg.Pool;
let h: Harness;

/** `pg_ctl restart -m immediate` on the private cluster, as its OS user when we are root. */
function restartImmediate(): void {
  const dataDir = path.join(stateDir, 'pg');
  const bin = fs.readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a))[0];
  const pgCtl = path.join('/usr/lib/postgresql', bin, 'bin', 'pg_ctl');
  const args = ['-D', dataDir, '-m', 'immediate', '-w', '-t', '60', '-l', path.join(dataDir, 'server.log'), 'restart'];
  if (process.getuid?.() === 0) execFileSync('runuser', ['-u', 'postgres', '--', pgCtl, ...args], { stdio: 'ignore' });
  else execFileSync(pgCtl, args, { stdio: 'ignore' });
}

beforeAll(async () => {
  fs.mkdirSync(stateDir, { recursive: true });
  server = await ensurePostgres({ stateDir, forcePrivate: true, log: () => undefined });
  const url = new URL(server.url);
  url.pathname = '/fault_restart';
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  await admin.query('CREATE DATABASE fault_restart');
  await admin.end();
  pool = new pg.Pool({ connectionString: url.toString(), max: 3 });
  pool.on('error', () => undefined); // the restart ends idle test connections too
  await migrateStore(pool);
  await createCountedPosts(pool, ROWS);
  const db = { url: url.toString(), pool, name: 'fault_restart', connect: async () => new pg.Client(), drop: async () => undefined };
  h = createHarness(db, {});
}, 120_000);

afterAll(async () => {
  await h?.close();
  await pool?.end().catch(() => undefined);
  await server?.stop().catch(() => undefined);
  fs.rmSync(stateDir, { recursive: true, force: true });
});

test('PostgreSQL restarted (-m immediate) mid-backfill: the worker lives, the backfill resumes, every row once', async () => {
  const name = writeMigration(h, 'restart', slowPostsMigration({ batchSize: 50, pause: '20ms', approval: true, set: SLOW_SET }));
  const worker = await h.startWorker();
  expect((await h.ferry('start', name, '--cool-off', '1s')).code).toBe(0);
  const rowsDone = async () => (await checkpointTotals(pool, name)).rows;

  await eventually('a third of the backfill', async () => (await rowsDone()) >= ROWS / 3);
  const at = await rowsDone();
  restartImmediate();
  const recoveryMs = await timeToProgress(rowsDone, at, { worker });
  expect(worker.proc.exitCode).toBeNull();

  expect((await h.waitForPhase('restart', 'awaiting-approval', 180_000)).phase).toBe('awaiting-approval');
  expect((await h.ferry('approve', name)).code).toBe(0);
  const done = await h.waitForPhase('restart', 'completed', 120_000);
  expect(worker.proc.exitCode).toBeNull();
  expect(worker.output()).toContain('postgres: connection lost');

  await expectEveryRowOnce(pool, name, {
    scenario: 'PostgreSQL restarted (-m immediate) mid-backfill',
    faults: 'pg_ctl restart -m immediate of a private cluster during the backfill',
    rows: ROWS,
    phase: done.phase,
    recoveryMs,
  });
}, 400_000);
