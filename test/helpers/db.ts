/**
 * One fresh PostgreSQL database per test file, created through the admin URL that
 * test/global-setup.ts exports as FERRY_TEST_ADMIN_URL.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { quoteIdent } from '../../src/pg/quote';

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
 * Creates a uniquely named database and returns a pool on it. Call once per test file.
 *
 * @example
 * let db: TestDatabase;
 * beforeAll(async () => { db = await createTestDatabase('backfill'); });
 * afterAll(() => db.drop());
 */
export async function createTestDatabase(prefix = 'ferry_test'): Promise<TestDatabase> {
  const name = uniqueName(prefix);
  await adminQuery(`CREATE DATABASE ${quoteIdent(name)}`);
  const parsed = new URL(adminUrl());
  parsed.pathname = `/${encodeURIComponent(name)}`;
  const url = parsed.toString();
  const pool = new pg.Pool({ connectionString: url, max: 5 });
  pool.on('error', () => undefined); // a dropped database kills idle clients; not a test failure
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
  return { url, pool, name, connect, drop };
}
