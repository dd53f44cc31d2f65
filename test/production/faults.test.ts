/**
 * Production tier, faults: on the real Temporal server (PostgreSQL persistence, mTLS required),
 * three workers share one backfill of six partitions and one of them is SIGKILLed while it runs
 * chunks; then the server process itself is SIGKILLed mid-backfill and restarted on its
 * databases. Each time the migration completes with every row updated exactly once and every
 * partition's checkpoint accounting for its rows.
 */
import { Client } from '@temporalio/client';
import { expectEveryRowOnce, SLOW_SET, timeToProgress } from '../helpers/faults';
import { checkpointTotals, eventually, resetCountedPosts, slowPostsMigration, writeMigration } from '../helpers/fixtures';
import type { ChildWorker } from '../helpers/harness';
import { productionTest, useProductionTemporal } from '../helpers/production-temporal';

const ROWS = 3_000;
const prod = useProductionTemporal({ database: 'prod_faults', rows: ROWS, harnessAs: 'ferry-worker' });

const rowsDone = (name: string) => async () => (await checkpointTotals(prod.db.pool, name)).rows;

/** The pids of workers running the migration's activities now (from the identities the server records, `<pid>@<host>`). */
async function workersRunningActivities(name: string): Promise<number[]> {
  const connection = await prod.t.connect('ferry-observer');
  try {
    const handle = new Client({ connection, namespace: prod.t.namespace }).workflow.getHandle(`migration/${name}`);
    const { raw } = await handle.describe();
    return (raw.pendingActivities ?? []).map((a) => Number.parseInt(a.lastWorkerIdentity ?? '', 10)).filter((pid) => pid > 0);
  } finally {
    await connection.close();
  }
}

/** Each partition's checkpoint: rows scanned, done. */
async function partitions(name: string): Promise<{ rows: number; done: boolean }[]> {
  const { rows } = await prod.db.pool.query(
    `SELECT rows_scanned::int AS rows, done FROM ferry.backfill_checkpoints WHERE migration = $1::text ORDER BY partition`,
    [name],
  );
  return rows;
}

productionTest(
  'three workers share a backfill of six partitions; one SIGKILLed while it runs chunks: every row once',
  async () => {
    // ~500 rows per partition in batches of 10 with a 250 ms pause: each partition needs ~15 s.
    const source = slowPostsMigration({ batchSize: 10, pause: '250ms', set: SLOW_SET }).replace(
      'batchSize: 10,',
      'batchSize: 10, concurrency: 6,',
    );
    const name = writeMigration(prod.h, 'shared', source);
    const workers: ChildWorker[] = [];
    for (let i = 0; i < 3; i++) workers.push(await prod.h.startWorker());
    expect((await prod.h.ferry('start', name, '--cool-off', '1s')).code).toBe(0);

    let victim: ChildWorker | undefined;
    await eventually('a worker running chunks while the backfill is under way', async () => {
      const busy = await workersRunningActivities(name);
      victim = workers.find((w) => busy.includes(w.proc.pid ?? -1));
      return victim !== undefined && (await rowsDone(name)()) >= ROWS / 5;
    });
    await victim!.stop('SIGKILL');
    const killedAt = Date.now();
    const atKill = await partitions(name);
    expect(atKill.some((p) => !p.done)).toBe(true); // killed mid-way
    // Recovered once every partition unfinished at the kill moved on, the victim's included (after the heartbeat timeout).
    await eventually(
      'every unfinished partition moving on',
      async () => {
        const now = await partitions(name);
        return atKill.every((p, i) => p.done || now[i].done || now[i].rows > p.rows);
      },
      120_000,
    );
    const recoveryMs = Date.now() - killedAt;

    const done = await prod.h.waitForPhase('shared', 'completed', 240_000);
    expect(done).toMatchObject({ phase: 'completed', rowsDone: ROWS });
    const checkpoints = await partitions(name);
    expect(checkpoints).toHaveLength(6);
    expect(checkpoints.every((p) => p.done && p.rows > 0)).toBe(true);
    expect(checkpoints.reduce((n, p) => n + p.rows, 0)).toBe(ROWS); // no checkpoint lost: no batch counted twice or skipped
    await expectEveryRowOnce(prod.db.pool, name, {
      scenario: 'production server (mTLS): 3 workers on 6 partitions, one SIGKILLed',
      faults: 'SIGKILL of one of three ferry workers while it runs chunks of a concurrency-6 backfill, on the real Temporal server',
      rows: ROWS,
      phase: done.phase,
      recoveryMs,
    });
    await Promise.all(workers.map((w) => w.stop('SIGTERM')));
  },
  600_000,
);

productionTest(
  'the server process SIGKILLed mid-backfill and restarted on its databases: the same worker completes it, every row once',
  async () => {
    await resetCountedPosts(prod.db.pool, ROWS);
    // 2,400 rows left after the first fifth, 20 a batch, 200 ms apart: at least 24 s, however fast the machine, against a
    // 5 s outage plus the restart, so the backfill is still running when the server is back (the worker goes on meanwhile).
    const name = writeMigration(prod.h, 'restart', slowPostsMigration({ batchSize: 20, pause: '200ms', set: SLOW_SET }));
    const worker = await prod.h.startWorker();
    expect((await prod.h.ferry('start', name, '--cool-off', '1s')).code).toBe(0);

    await eventually('a fifth of the backfill', async () => (await rowsDone(name)()) >= ROWS / 5);
    await prod.t.restart({ signal: 'SIGKILL', downMs: 5_000 });
    const at = await rowsDone(name)();
    expect(at).toBeLessThan(ROWS);
    const recoveryMs = await timeToProgress(rowsDone(name), at, { worker, timeoutMs: 180_000 });

    const done = await prod.h.waitForPhase('restart', 'completed', 240_000);
    expect(done).toMatchObject({ phase: 'completed', rowsDone: ROWS });
    expect(worker.proc.exitCode).toBeNull(); // the same worker, reconnected by itself
    await expectEveryRowOnce(prod.db.pool, name, {
      scenario: 'production server (mTLS) SIGKILLed mid-backfill, restarted 5 s later',
      faults: 'SIGKILL of the real Temporal server process during the backfill; restarted on its PostgreSQL databases after 5 s',
      rows: ROWS,
      phase: done.phase,
      recoveryMs,
    });
  },
  600_000,
);
