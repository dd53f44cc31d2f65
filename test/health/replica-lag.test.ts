/**
 * The replica-lag check: against the real PostgreSQL (no standbys there: healthy), and its verdicts
 * on rows of pg_stat_replication as a server with standbys reports them.
 */
import type { Pool } from 'pg';
import { replicaLagCheck } from '../../src/health/replica-lag';
import { createTestDatabase, type TestDatabase } from '../helpers/db';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase('health_lag');
});

afterAll(() => db?.drop());

/** A pool whose pg_stat_replication has `rows` (the test server has no standbys to lag). */
const replicas = (rows: { standby: string; state: string | null; lag_ms: number | null }[]) =>
  ({ query: async () => ({ rows }) }) as unknown as Pool;

describe('replicaLagCheck', () => {
  it('passes with no replicas', async () => {
    expect((await db.pool.query('SELECT count(*)::int AS n FROM pg_stat_replication')).rows[0].n).toBe(0);
    expect(await replicaLagCheck(5000).run(db.pool, 1000)).toEqual({ healthy: true });
  });

  it('throttles on the worst standby over the limit', async () => {
    const verdict = await replicaLagCheck(5000).run(
      replicas([
        { standby: 'standby2', state: 'streaming', lag_ms: 1200 },
        { standby: 'standby1', state: 'streaming', lag_ms: 7210 },
      ]),
      1000,
    );
    expect(verdict).toEqual({ healthy: false, kind: 'replica_lag', reason: 'replica lag 7.2s > 5s on standby1' });
  });

  it('passes under the limit, and for a caught-up idle standby (null lag)', async () => {
    const ok = replicas([
      { standby: 'a', state: 'streaming', lag_ms: 4900 },
      { standby: 'b', state: 'streaming', lag_ms: null },
    ]);
    expect(await replicaLagCheck(5000).run(ok, 1000)).toEqual({ healthy: true });
  });

  it('fails closed when the lag cannot be read, or a standby is still catching up', async () => {
    expect(await replicaLagCheck(5000).run(replicas([{ standby: 'pid 42', state: null, lag_ms: null }]), 1000)).toEqual({
      healthy: false,
      kind: 'replica_lag',
      reason: "replica lag unreadable on 1 standby(s): grant pg_monitor to the worker's role",
    });
    expect(await replicaLagCheck(5000).run(replicas([{ standby: 'standby1', state: 'catchup', lag_ms: null }]), 1000)).toMatchObject({
      reason: 'standby standby1 is catchup, not streaming',
    });
  });
});
