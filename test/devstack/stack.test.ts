/**
 * The stack that starts itself: the dev server from test/global-setup.ts runs workflows, reuse
 * leaves running servers alone, and a private PostgreSQL cluster starts, stops and restarts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import pg from 'pg';
import { ensureDevServer } from '../../devstack/dev-server';
import { ensurePostgres, freePort, type Postgres } from '../../devstack/postgres';
import { cachedTemporalCliPath, findTemporalCli } from '../../devstack/temporal-cli';
import { ALL_SEARCH_ATTRIBUTES } from '../../src/contract/search-attributes';
import { helloActivities, helloWorkflow } from '../fixtures/workflows/hello';
import { createTestDatabase } from '../helpers/db';
import { testTemporal, uniqueTaskQueue, type TestTemporal } from '../helpers/temporal';

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-stack-test-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Sets env vars for the duration of `fn`, restoring the previous values after. */
async function withEnv<T>(vars: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const apply = (v: Record<string, string | undefined>) =>
    Object.entries(v).forEach(([k, val]) => (val === undefined ? delete process.env[k] : (process.env[k] = val)));
  apply(vars);
  try {
    return await fn();
  } finally {
    apply(saved);
  }
}

/** A dummy executable file at `file`. */
function fakeExecutable(file: string): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
  return file;
}

describe('Temporal dev server', () => {
  let t: TestTemporal;
  beforeAll(async () => {
    t = await testTemporal();
  });
  afterAll(() => t.close());

  test('a worker runs a workflow with an activity', async () => {
    const taskQueue = uniqueTaskQueue('hello');
    const worker = await Worker.create({
      connection: t.connection,
      namespace: t.namespace,
      taskQueue,
      workflowsPath: require.resolve('../fixtures/workflows/hello'),
      activities: helloActivities,
    });
    const result = await worker.runUntil(t.client.workflow.execute(helloWorkflow, { taskQueue, workflowId: taskQueue, args: ['ferry'] }));
    expect(result).toBe('Hello, ferry!');
  });

  test("ferry's search attributes are registered", async () => {
    const { customAttributes } = await t.connection.operatorService.listSearchAttributes({ namespace: t.namespace });
    expect(Object.keys(customAttributes ?? {})).toEqual(expect.arrayContaining(ALL_SEARCH_ATTRIBUTES.map((key) => key.name)));
  });

  test('ensureDevServer reuses the running server, and its stop() leaves it up', async () => {
    const port = Number(t.address.split(':').pop());
    const server = await ensureDevServer({
      port,
      dbFile: path.join(tmp, 'never-used.db'),
      cliPath: path.join(tmp, 'no-such-temporal'), // would fail if it tried to start a server
      log: () => undefined,
    });
    expect(server).toMatchObject({ started: false, address: `127.0.0.1:${port}` });
    await server.stop();
    const connection = await Connection.connect({ address: server.address, connectTimeout: '5s' });
    try {
      await expect(connection.workflowService.getSystemInfo({})).resolves.toBeDefined();
    } finally {
      await connection.close();
    }
  });
});

describe('two processes starting the dev server at once', () => {
  test('one starts it, the other reuses it; stopping the one that started it stops it', async () => {
    const [port, uiPort] = [await freePort(), await freePort()];
    const cliPath = await findTemporalCli({ log: () => undefined });
    const start = () => ensureDevServer({ port, uiPort, dbFile: path.join(tmp, 'race.db'), cliPath, log: () => undefined });
    const settled = await Promise.allSettled([start(), start()]);
    const servers = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    try {
      expect(settled.filter((r) => r.status === 'rejected')).toEqual([]);
      expect(servers.map((s) => s.address)).toEqual([`127.0.0.1:${port}`, `127.0.0.1:${port}`]);
      expect(servers.filter((s) => s.started)).toHaveLength(1);
    } finally {
      await Promise.all(servers.map((s) => s.stop())); // also when one failed: leave no server behind
    }
    const connection = await Connection.connect({ address: `127.0.0.1:${port}`, connectTimeout: '1s' }).catch(() => undefined);
    await connection?.close();
    expect(connection).toBeUndefined();
  }, 120_000);
});

describe('ensurePostgres({ forcePrivate: true })', () => {
  const running: Postgres[] = [];
  const cleanup: string[] = [];
  afterAll(async () => {
    await Promise.all(running.map((p) => p.stop().catch(() => undefined)));
    cleanup.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true }));
  });

  async function query(url: string, sql: string): Promise<pg.QueryResult> {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
    await client.connect();
    try {
      return await client.query(sql);
    } finally {
      await client.end();
    }
  }

  test('starts a private cluster on a free port, stops it, and reuses the initialised dir', async () => {
    // Its own mkdtemp dir: as root, the cluster runs as the "postgres" OS user, which must be able to
    // enter stateDir; ensurePostgres opens stateDir itself (o+x) but not private parents such as `tmp`.
    const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-pg-test-'));
    cleanup.push(stateDir);
    const lines: string[] = [];
    const first = await ensurePostgres({ stateDir, forcePrivate: true, log: (l) => lines.push(l) });
    running.push(first);
    expect(first.started).toBe(true);
    expect(first.url).toMatch(/^postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/);
    expect(first.url).not.toContain(':5432/');
    await query(first.url, 'CREATE TABLE survives_restart (id int)');

    await first.stop();
    await expect(query(first.url, 'SELECT 1')).rejects.toThrow();

    const second = await ensurePostgres({ stateDir, forcePrivate: true, log: (l) => lines.push(l) });
    running.push(second);
    expect(second.started).toBe(true);
    expect(lines.join('\n')).toContain(`reusing the initialised PostgreSQL cluster in ${path.join(stateDir, 'pg')}`);
    const { rows } = await query(second.url, "SELECT to_regclass('survives_restart')::text AS t");
    expect(rows[0].t).toBe('survives_restart');
    await second.stop();
  });
});

describe('createTestDatabase', () => {
  test('creates a fresh database from FERRY_TEST_ADMIN_URL, and drop() removes it', async () => {
    const db = await createTestDatabase('Stack Test');
    expect(db.name).toMatch(/^stack_test_\d+_[0-9a-f]{8}$/);
    const { rows } = await db.pool.query('SELECT current_database() AS name');
    expect(rows[0].name).toBe(db.name);
    await db.drop();
    await db.drop(); // idempotent
    const admin = new pg.Client({ connectionString: process.env.FERRY_TEST_ADMIN_URL });
    await admin.connect();
    try {
      const left = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [db.name]);
      expect(left.rowCount).toBe(0);
    } finally {
      await admin.end();
    }
  });
});

describe('findTemporalCli', () => {
  test('returns $TEMPORAL_CLI when it is executable', async () => {
    const cli = fakeExecutable(path.join(tmp, 'bin', 'my-temporal'));
    await expect(withEnv({ TEMPORAL_CLI: cli }, () => findTemporalCli())).resolves.toBe(cli);
  });

  test('errors clearly when $TEMPORAL_CLI does not exist', async () => {
    const missing = path.join(tmp, 'nope', 'temporal');
    await expect(withEnv({ TEMPORAL_CLI: missing }, () => findTemporalCli())).rejects.toThrow(
      `TEMPORAL_CLI is set to "${missing}", which is not an executable file`,
    );
  });

  test('finds the cached build under $XDG_CACHE_HOME when temporal is not on PATH', async () => {
    const env = { TEMPORAL_CLI: undefined, PATH: path.join(tmp, 'empty-path'), XDG_CACHE_HOME: path.join(tmp, 'cache') };
    await withEnv(env, async () => {
      const cached = fakeExecutable(cachedTemporalCliPath());
      expect(cached).toBe(path.join(tmp, 'cache', 'ferry', 'temporal-cli-1.5.1', 'temporal'));
      await expect(findTemporalCli()).resolves.toBe(cached);
    });
  });
});
