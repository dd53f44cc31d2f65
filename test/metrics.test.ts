/**
 * Prometheus metrics: the server on port 0 serves /metrics on 127.0.0.1, and a backfill chunk
 * (MockActivityEnvironment, real PostgreSQL) records rows, batches, failed rows and throttled time.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { createBackfillActivities } from '../src/activities/backfill';
import { createMetrics, metricsFromEnv, startMetricsServer, type MetricsServer } from '../src/metrics';
import type { LoadedMigration } from '../src/definition/registry';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { activityEnv, createTouchFunction, makeTable, quiet, register, runChunk } from './helpers/backfill';

let db: TestDatabase;
let server: MetricsServer | undefined;

beforeAll(async () => {
  db = await createTestDatabase('metrics');
  await createTouchFunction(db.pool);
});

afterAll(async () => {
  await server?.close();
  await db?.drop();
});

/** The value of the sample `name{labels}` in a scrape, or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('metrics', () => {
  it('serves what a chunk records at /metrics', async () => {
    const metrics = createMetrics();
    server = await startMetricsServer(0, metrics.registry);
    expect(server.host).toBe('127.0.0.1');
    const migrations = new Map<string, LoadedMigration>();
    const acts = createBackfillActivities(
      { pool: db.pool, migrations, log: () => undefined, metrics },
      { health: { cacheMs: 0, backoff: { initialMs: 100, maxMs: 100, sliceMs: 50 } } },
    );
    await makeTable(db.pool, 'posts', 300);
    await db.pool.query(`UPDATE posts SET raw = 'not json' WHERE id = 42`);
    let calls = 0;
    const fn = async () => ++calls > 2; // unhealthy twice, then healthy
    const ref = register(migrations, 'posts-data', 'posts', {
      batchSize: 100,
      health: { autovacuum: false, checks: [{ name: 'warmup', fn }] },
    });
    await new MockActivityEnvironment(undefined, quiet).run(acts.initBackfill, { ...ref, runId: 'r1', pass: 1 });
    const result = await runChunk(activityEnv().env, acts, { ...ref, runId: 'r1', partition: 0, maxMs: 60_000 });
    expect(result).toMatchObject({ done: true, rowsUpdated: 299, rowsFailed: 1 });

    const response = await fetch(`http://127.0.0.1:${server.port}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/plain');
    const text = await response.text();
    const m = '{migration="posts-data"}';
    expect(sample(text, `ferry_rows_backfilled_total${m}`)).toBe(300);
    expect(sample(text, `ferry_failed_rows_total${m}`)).toBe(1);
    expect(sample(text, `ferry_batch_duration_seconds_count${m}`)).toBe(result.batches);
    expect(sample(text, `ferry_batch_size${m}`)).toBeGreaterThan(0);
    const throttled = sample(text, 'ferry_throttled_seconds_total{migration="posts-data",reason_kind="user_check"}');
    expect(throttled).toBeGreaterThan(0.1);
    expect(throttled).toBeCloseTo(result.throttledMs / 1000, 1);
    expect(text).not.toContain('not json'); // no row data in labels or values

    expect((await fetch(`http://127.0.0.1:${server.port}/other`)).status).toBe(404);
  });

  it('starts from FERRY_METRICS_PORT only, and rejects a bad port', async () => {
    expect(await metricsFromEnv({})).toBeUndefined();
    await expect(metricsFromEnv({ FERRY_METRICS_PORT: 'ninety' })).rejects.toThrow('FERRY_METRICS_PORT "ninety" is not a port');
    const served = await metricsFromEnv({ FERRY_METRICS_PORT: '0' });
    try {
      const text = await (await fetch(`http://127.0.0.1:${served!.server.port}/metrics`)).text();
      expect(text).toContain('process_cpu_user_seconds_total'); // Node's process metrics come with it
      expect(text).toContain('# TYPE ferry_rows_backfilled_total counter');
    } finally {
      await served?.server.close();
    }
  });
});
