/**
 * A migration started by ferry 0.1.x carries a version 1 spec hash. After the upgrade, the new
 * worker must run it to the end, and `ferry start` of the same file must see it as the same
 * migration, not a conflict.
 */
import { connectClient } from '../../src/client/connect';
import { startMigration } from '../../src/client/start';
import { loadConfig } from '../../src/config';
import { loadMigration } from '../../src/definition/registry';
import { checkpointTotals, slowPostsMigration, usePostsHarness, writeMigration } from '../helpers/fixtures';

const ROWS = 2000;
const ctx = usePostsHarness('spec_hash_upgrade', ROWS, { worker: false });

test('a migration started under the version 1 hash finishes under the new code', async () => {
  const { h, db } = ctx;
  const name = writeMigration(h, 'old-hash', slowPostsMigration({ batchSize: 500, pause: '0ms' }));
  const m = loadMigration(name, h.dir);
  const [v1] = m.acceptedSpecHashes ?? [];
  expect(v1).toMatch(/^[0-9a-f]{16}$/);
  expect(m.specHash).toMatch(/^v2-/);

  // What ferry 0.1.x did at `ferry start`: the same input and search attributes, with its hash.
  const fc = await connectClient(loadConfig(h.env));
  try {
    const started = await startMigration(fc, { ...m, specHash: v1, acceptedSpecHashes: [] }, { startedBy: 'ferry-0.1', coolOff: '1s' });
    expect(started.status).toBe('started');
  } finally {
    await fc.close();
  }

  await h.startWorker();
  const again = await h.ferry('start', name, '--json');
  expect(again.code).toBe(0);
  expect(JSON.parse(again.stdout)).toMatchObject({ status: 'already-running' });

  const done = await h.waitForPhase('old-hash', 'completed', 90_000);
  expect(done).toMatchObject({ phase: 'completed', rowsDone: ROWS });
  expect((await checkpointTotals(db.pool, name)).rows).toBe(ROWS);
  const recorded = await db.pool.query('SELECT spec_hash FROM ferry.completed_migrations WHERE migration = $1', [name]);
  expect(recorded.rows).toEqual([{ spec_hash: v1 }]);

  const after = await h.ferry('start', name, '--json');
  expect(after.code).toBe(0);
  expect(JSON.parse(after.stdout)).toMatchObject({ status: 'already-completed' });
});
