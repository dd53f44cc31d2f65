/**
 * The example TypeORM application with a ferry migration and `ferry worker` beside it, as the
 * end-to-end TypeORM tests set it up: a copy of the app migrated by TypeORM and seeded with users,
 * the migration file written into its `migrations/`, and a worker that takes its connection from
 * the app's DataSource (no DATABASE_URL).
 */
import fs from 'node:fs';
import path from 'node:path';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { FAST_ENV } from '../helpers/harness';
import { appEnv, childEnv, copyApp, startFerryWorker, typeorm, type Child } from './app';

/** What `startAppWorker` is asked for. */
export interface AppWorkerOptions {
  /** Names the test database (`-` becomes `_`) and the app's copy, e.g. `typeorm-mig`. */
  label: string;
  /** The ferry migration's name: its file `migrations/<name>.ts`, and the worker's task queue. */
  name: string;
  /** The migration file's source (a `defineMigration` default export). */
  migration: string;
  /** Rows of `users` seeded after TypeORM's migration:run (`u<n>`, `User <n>`). */
  users: number;
  /** More environment for the app's commands and the worker, after FAST_ENV (so it may override it). */
  env?: NodeJS.ProcessEnv;
  /** Changes the app's copy (`dir`) after seeding and before the worker starts. */
  prepare?(dir: string): void;
}

/** The app, its database and the running worker; `close()` stops and removes all three. */
export interface AppWorker {
  db: TestDatabase;
  app: ReturnType<typeof copyApp>;
  env: NodeJS.ProcessEnv;
  worker: Child;
  close(): Promise<void>;
}

/**
 * Sets up the example app with `options.migration` and starts its ferry worker; on a failure it
 * removes what it made before rethrowing.
 * @example
 * const { db, app, env, worker } = await startAppWorker({ label: 'typeorm-mig', name, migration, users: 500 });
 */
export async function startAppWorker(options: AppWorkerOptions): Promise<AppWorker> {
  const db = await createTestDatabase(options.label.replace(/-/g, '_'), { store: false });
  const app = copyApp(options.label);
  let worker: Child | undefined;
  const close = async () => {
    await worker?.stop('SIGKILL');
    app.remove();
    await db.drop();
  };
  try {
    const env = childEnv({
      ...appEnv(db),
      ...FAST_ENV,
      FERRY_DATA_SOURCE: 'src/data-source.ts',
      FERRY_TASK_QUEUE: `ferry-${options.name}`,
      ...options.env,
    });
    expect((await typeorm(app.dir, env, 'migration:run', '-d', 'src/data-source.ts')).code).toBe(0);
    const seed = `INSERT INTO users (email, full_name) SELECT 'u' || g, 'User ' || g FROM generate_series(1, $1::int) g`;
    await db.pool.query(seed, [options.users]);
    options.prepare?.(app.dir);
    fs.mkdirSync(path.join(app.dir, 'migrations'));
    fs.writeFileSync(path.join(app.dir, 'migrations', `${options.name}.ts`), options.migration);
    worker = startFerryWorker(app.dir, env);
    await worker.waitFor('ferry worker:', 90_000);
    return { db, app, env, worker, close };
  } catch (e) {
    await close();
    throw e;
  }
}
