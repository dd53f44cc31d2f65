/**
 * Verification that keeps watching, end to end with PostgreSQL, Temporal, the CLI and a worker:
 * rows written in the old shape during the cool-off are found by a scheduled re-verify
 * (`verify.every: '1s'`) before the contract, a catch-up pass fixes them, and `status`, the audit
 * trail and the worker's metrics (`ferry_verify_wrong_rows`) say so.
 */
import type { Progress } from '../../src/contract/progress';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { createCountedPosts, eventually, slowPostsMigration, writeMigration } from '../helpers/fixtures';
import { createHarness, type ChildWorker, type Harness } from '../helpers/harness';

const ROWS = 2000;
let db: TestDatabase;
let h: Harness;
let worker: ChildWorker;

/** The example's shape (app dual-write) with a re-verify every second and an approval before the contract. */
const SOURCE = slowPostsMigration({ dualWrite: 'app', batchSize: 500, capped: false, pause: false, verifyEvery: '1s', approval: true });

beforeAll(async () => {
  db = await createTestDatabase('reverify');
  await createCountedPosts(db.pool, ROWS);
  h = createHarness(db, {});
  writeMigration(h, 'watched', SOURCE);
  worker = await h.startWorker({ FERRY_METRICS_PORT: '0' });
});

afterAll(async () => {
  await h?.close();
  await db?.drop();
});

const oldShapeRows = async () =>
  (await db.pool.query(`SELECT count(*)::int AS n FROM posts WHERE member_uuid IS NULL AND member_id IS NOT NULL`)).rows[0].n;

async function metrics(): Promise<string> {
  const url = /metrics at (http:\S+)/.exec(worker.output())?.[1];
  if (!url) throw new Error(`the worker printed no metrics address: ${worker.output()}`);
  return (await fetch(url)).text();
}

test('old-shape writes during the cool-off are caught by a scheduled re-verify and fixed before the contract', async () => {
  const name = h.name('watched');
  expect((await h.ferry('start', name, '--cool-off', '40s')).code).toBe(0);
  expect((await h.ferry('deployed', name)).code).toBe(0);
  const cooling = await h.waitForPhase('watched', 'cooling-off', 90_000);
  expect(cooling).toMatchObject({ verify: { wrongRows: 0 } });
  expect(await oldShapeRows()).toBe(0);

  // A writer that never got the dual-write deploy: 7 rows in the old shape only.
  await db.pool.query(`INSERT INTO posts (member_id, body) SELECT 1 + g, 'old shape' FROM generate_series(1, 7) g`);
  let status: Partial<Progress> = {};
  await eventually('the drift to be caught up', async () => {
    status = JSON.parse((await h.ferry('status', name, '--json')).stdout);
    return (status.reverify?.drifts ?? 0) >= 1 && status.reverify?.catchingUp === undefined && status.verify?.wrongRows === 0;
  });
  expect(status.phase).toBe('cooling-off'); // before the contract
  expect(status.reverify).toMatchObject({ everyMs: 1000, drifts: 1, driftRows: 7 });
  expect(await oldShapeRows()).toBe(0); // the catch-up pass fixed them

  const text = (await h.ferry('status', name)).stdout;
  expect(text).toMatch(/re-verify: every 1s, \d+ so far; last at .*: 0 wrong rows; drift found 1 times \(7 wrong rows in all\)/);
  const audit = JSON.parse((await h.ferry('history', name, '--json')).stdout) as { action: string; detail?: string }[];
  expect(audit.find((a) => a.action === 'drift')?.detail).toMatch(/^the scheduled re-verify found 7 wrong rows; catch-up pass \d+ starts$/);
  expect(audit.map((a) => a.action)).toContain('caught up');
  expect(await metrics()).toMatch(new RegExp(`ferry_verify_wrong_rows\\{migration="${name}"\\} 0`));

  expect((await h.ferry('approve', name, '--by', 'erin')).code).toBe(0);
  const done = await h.waitForPhase('watched', 'completed', 90_000);
  expect(done).toMatchObject({ phase: 'completed', verify: { wrongRows: 0 } });
  const { rows } = await db.pool.query(`SELECT count(*)::int AS n, count(member_uuid)::int AS filled FROM posts`);
  expect(rows[0]).toEqual({ n: ROWS + 7, filled: ROWS + 7 });
}, 180_000);
