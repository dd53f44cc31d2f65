/**
 * One fresh PostgreSQL database per test file, created through the admin URL that
 * test/global-setup.ts exports as FERRY_TEST_ADMIN_URL.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { quoteIdent } from '../../src/pg/quote';
import { migrateStore } from '../../src/store/migrate';

/** A database created for one test file. */
export interface TestDatabase {
  /** Connection URL of the new database. */
  url: string;
  /** A pool on it (ended by `drop()`). */
  pool: pg.Pool;
  name: string;
  /** A connection of its own, outside the pool (a blocker, a reader); ended by `drop()`. */
  connect(): Promise<pg.Client>;
  /** Ends the pool and the extra connections and drops the database. Idempotent. */
  drop(): Promise<void>;
}

/** FERRY_TEST_ADMIN_URL, or an error saying how tests get it. */
function adminUrl(): string {
  const url = process.env.FERRY_TEST_ADMIN_URL;
  if (url) return url;
  throw new Error(
    'FERRY_TEST_ADMIN_URL is not set; test/global-setup.ts sets it. Run tests through jest (`npx jest`), ' +
      'or set it to a PostgreSQL superuser URL.',
  );
}

/** `<prefix>_<pid>_<random>`, lower case, at most 63 bytes (PostgreSQL's identifier limit). */
function uniqueName(prefix: string): string {
  const suffix = `_${process.pid}_${randomBytes(4).toString('hex')}`;
  const clean = prefix.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  return clean.slice(0, 63 - suffix.length) + suffix;
}

/** Runs one statement on the admin database. */
async function adminQuery(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl() });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/**
 * Creates a uniquely named database and returns a pool on it. Call once per test file. ferry's
 * own schema is installed (`migrateStore`), as a worker does at start-up, so that activities can
 * be driven without a worker; `{ store: false }` leaves the database empty.
 *
 * @example
 * let db: TestDatabase;
 * beforeAll(async () => { db = await createTestDatabase('backfill'); });
 * afterAll(() => db.drop());
 */
export async function createTestDatabase(prefix = 'ferry_test', opts: { store?: boolean } = {}): Promise<TestDatabase> {
  const name = uniqueName(prefix);
  await adminQuery(`CREATE DATABASE ${quoteIdent(name)}`);
  const parsed = new URL(adminUrl());
  parsed.pathname = `/${encodeURIComponent(name)}`;
  const url = parsed.toString();
  const pool = new pg.Pool({ connectionString: url, max: 5 });
  pool.on('error', () => undefined); // a dropped database kills idle clients; not a test failure
  // A checked-out client whose backend a test terminates emits 'error' on itself: never a crash of the test file
  // (guardConnections, added by a test later, covers only clients connected after it, and migrateStore connects one first).
  pool.on('connect', (client: pg.PoolClient) => client.on('error', () => undefined));
  let dropped = false;
  const clients: pg.Client[] = [];
  const connect = async () => {
    const client = new pg.Client({ connectionString: url });
    client.on('error', () => undefined); // a test may kill it on purpose
    await client.connect();
    clients.push(client);
    return client;
  };
  const drop = async () => {
    if (dropped) return;
    dropped = true;
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
    await pool.end();
    await adminQuery(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
  };
  if (opts.store !== false) await migrateStore(pool);
  return { url, pool, name, connect, drop };
}

/** A login role created for one test file (trust auth on 127.0.0.1: no password). */
export interface TestRole {
  name: string;
  /** A pool on `db` connecting as this role; ended by `drop()`. */
  pool(db: TestDatabase): pg.Pool;
  /** `db`'s URL with this role as the user. */
  url(db: TestDatabase): string;
  /** Ends its pools and drops the role (drop its databases first, or it keeps their grants). Idempotent. */
  drop(): Promise<void>;
}

/**
 * Creates a uniquely named LOGIN role without any privilege beyond PUBLIC's.
 *
 * @example
 * const role = await createTestRole('worker');
 * const workerPool = role.pool(db);
 * afterAll(async () => { await db.drop(); await role.drop(); });
 */
export async function createTestRole(prefix = 'ferry_role'): Promise<TestRole> {
  const name = uniqueName(prefix);
  await adminQuery(`CREATE ROLE ${quoteIdent(name)} LOGIN`);
  const pools: pg.Pool[] = [];
  let dropped = false;
  const url = (db: TestDatabase) => {
    const parsed = new URL(db.url);
    parsed.username = encodeURIComponent(name);
    parsed.password = '';
    return parsed.toString();
  };
  return {
    name,
    url,
    pool: (db) => {
      const pool = new pg.Pool({ connectionString: url(db), max: 2 });
      pool.on('error', () => undefined);
      pools.push(pool);
      return pool;
    },
    drop: async () => {
      if (dropped) return;
      dropped = true;
      await Promise.all(pools.map((p) => p.end().catch(() => undefined)));
      await adminQuery(`DROP ROLE IF EXISTS ${quoteIdent(name)}`);
    },
  };
}
