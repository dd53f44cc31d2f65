/**
 * User health checks (`backfill.health.checks`) against a real PostgreSQL: true is healthy, false
 * throttles, and anything else — an error, a timeout, a non-boolean, a write — throttles too (fail
 * closed), with the check's name and message as the reason.
 */
import { runCheck } from '../../src/health/check';
import { userCheck } from '../../src/health/user-check';
import { createTestDatabase, type TestDatabase } from '../helpers/db';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase('health_user');
  await db.pool.query(`CREATE TABLE flags (name text PRIMARY KEY, on_ boolean NOT NULL)`);
  await db.pool.query(`INSERT INTO flags VALUES ('backfill', true)`);
});

afterAll(() => db?.drop());

const check = (def: Parameters<typeof userCheck>[0], timeoutMs = 1000) => runCheck(userCheck(def), db.pool, timeoutMs);

describe('user checks', () => {
  it('is healthy when the SQL returns true, and throttles when it returns false', async () => {
    const sql = `SELECT on_ FROM flags WHERE name = 'backfill'`;
    expect(await check({ name: 'kill-switch', sql })).toEqual({ healthy: true });
    await db.pool.query(`UPDATE flags SET on_ = false`);
    expect(await check({ name: 'kill-switch', sql })).toEqual({
      healthy: false,
      kind: 'user_check',
      reason: 'check "kill-switch" returned false',
    });
  });

  it('fails closed when the SQL throws, naming the check and the error', async () => {
    expect(await check({ name: 'business-hours', sql: 'SELECT 1 / 0 = 1' })).toEqual({
      healthy: false,
      kind: 'user_check',
      reason: 'check "business-hours" failed: division by zero',
    });
    const missing = await check({ name: 'typo', sql: 'SELECT ok FROM no_such_table' });
    expect(missing).toMatchObject({ healthy: false, reason: 'check "typo" failed: relation "no_such_table" does not exist' });
  });

  it('fails closed on a slow query (statement_timeout) and on a function that never answers', async () => {
    const slow = await check({ name: 'slow', sql: 'SELECT pg_sleep(5) IS NOT NULL' }, 300);
    expect(slow).toMatchObject({
      healthy: false,
      reason: expect.stringMatching(/^check "slow" failed: (canceling statement due to statement timeout|no answer within 300 ms)$/),
    });
    const hung = await check({ name: 'hung', fn: () => new Promise<boolean>(() => undefined) }, 200);
    expect(hung).toEqual({ healthy: false, kind: 'user_check', reason: 'check "hung" failed: no answer within 200 ms' });
  });

  it('fails closed on answers that are not one boolean', async () => {
    expect(await check({ name: 'text', sql: `SELECT 'yes'` })).toMatchObject({
      reason: 'check "text" failed: answered a string; it must answer one boolean (true = healthy)',
    });
    expect(await check({ name: 'none', sql: `SELECT true WHERE false` })).toMatchObject({
      reason: 'check "none" failed: returned 0 rows of 1 columns; it must return one row with one boolean column',
    });
    expect(await check({ name: 'null', fn: async () => null as unknown as boolean })).toMatchObject({
      healthy: false,
      reason: expect.stringContaining('answered null'),
    });
  });

  it('runs SQL read-only: a check cannot change data', async () => {
    const verdict = await check({ name: 'sneaky', sql: `WITH d AS (DELETE FROM flags RETURNING 1) SELECT true` });
    expect(verdict).toMatchObject({
      healthy: false,
      reason: expect.stringMatching(/^check "sneaky" failed: cannot execute .* in a read-only transaction$/),
    });
    expect((await db.pool.query('SELECT count(*)::int AS n FROM flags')).rows[0].n).toBe(1);
  });

  it('takes functions: true, false, and a throw as the reason', async () => {
    expect(await check({ name: 'fn', fn: async () => true })).toEqual({ healthy: true });
    expect(await check({ name: 'fn', fn: () => false })).toMatchObject({ healthy: false, reason: 'check "fn" returned false' });
    const boom = await check({
      name: 'api',
      fn: async () => {
        throw new Error('status page unreachable');
      },
    });
    expect(boom).toEqual({ healthy: false, kind: 'user_check', reason: 'check "api" failed: status page unreachable' });
  });
});
