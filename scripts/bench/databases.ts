/**
 * The bench's databases: one template with the generated table, and a fresh copy of it for every
 * method, so that each starts from the same pages, statistics and visibility map.
 */
import { Client } from 'pg';
import { quoteIdent } from '../../src/pg/quote';
import { log } from './log';

/** The database URL of `name` on the server of `adminUrl`. */
export function databaseUrl(adminUrl: string, name: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Runs `fn` with a connected client to `url`, always closing it. */
export async function withClient<T>(url: string, fn: (db: Client) => Promise<T>): Promise<T> {
  const db = new Client({ connectionString: url, application_name: 'ferry-bench' });
  db.on('error', () => undefined); // e.g. the database dropped under it at cleanup; the next query reports it
  await db.connect();
  try {
    return await fn(db);
  } finally {
    await db.end();
  }
}

/**
 * The schema of `migrations/examples/posts-member-uuid.ts` after its expand step: 10,000 members,
 * `rows` posts, each with a member_id and no member_uuid yet. Every method finds the column
 * there already (ferry's `ADD COLUMN IF NOT EXISTS` is then a no-op), so none pays for it.
 */
const GENERATE = (rows: number) => `
  CREATE TABLE members (id serial PRIMARY KEY, uuid uuid NOT NULL DEFAULT gen_random_uuid(), name text);
  INSERT INTO members (name) SELECT 'member ' || g FROM generate_series(1, 10000) g;
  CREATE TABLE posts (id bigserial PRIMARY KEY, member_id int REFERENCES members, body text,
    created_at timestamptz DEFAULT now(), member_uuid uuid);
  INSERT INTO posts (member_id, body) SELECT 1 + (g % 10000), 'post number ' || g FROM generate_series(1, ${Number(rows)}) g;`;

/** Creates database `name` afresh (dropping a leftover of the same name). */
async function createDatabase(adminUrl: string, name: string, template?: string): Promise<void> {
  await withClient(adminUrl, async (admin) => {
    await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${quoteIdent(name)}${template ? ` TEMPLATE ${quoteIdent(template)}` : ''}`);
  });
}

/** Builds the template database `name` with `rows` posts; returns how long it took in seconds. */
export async function createTemplate(adminUrl: string, name: string, rows: number): Promise<number> {
  const t0 = Date.now();
  await createDatabase(adminUrl, name);
  await withClient(databaseUrl(adminUrl, name), (db) => db.query(GENERATE(rows)));
  return (Date.now() - t0) / 1000;
}

/**
 * A fresh copy of the template, vacuumed and analysed, after a CHECKPOINT: the same starting
 * point for every method (no dirty pages left from the copy or the previous method).
 */
export async function freshCopy(adminUrl: string, template: string, name: string): Promise<string> {
  await createDatabase(adminUrl, name, template);
  const url = databaseUrl(adminUrl, name);
  await withClient(url, async (db) => {
    await db.query('VACUUM ANALYZE members');
    await db.query('VACUUM ANALYZE posts');
    await db.query('CHECKPOINT');
  });
  log(`database "${name}" copied from "${template}", vacuumed and analysed`);
  return url;
}

/** Drops the databases, ignoring ones already gone; terminates their sessions first. */
export async function dropDatabases(adminUrl: string, names: string[]): Promise<void> {
  await withClient(adminUrl, async (admin) => {
    for (const name of names) await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
  });
}

/** `PostgreSQL 15.20` and the settings that matter for an update-heavy run. */
export async function serverInfo(adminUrl: string): Promise<Record<string, string>> {
  return withClient(adminUrl, async (db) => {
    const names = ['server_version', 'shared_buffers', 'max_wal_size', 'synchronous_commit', 'fsync', 'wal_level'];
    const { rows } = await db.query(`SELECT name, setting, unit FROM pg_settings WHERE name = ANY($1::text[])`, [names]);
    return Object.fromEntries(rows.map((r) => [r.name, r.unit ? `${r.setting} (${r.unit})` : r.setting]));
  });
}

/** Sessions on the server outside the bench's databases that are running a query now (noise). */
export async function otherActiveSessions(adminUrl: string, prefix: string): Promise<number> {
  return withClient(adminUrl, async (db) => {
    const { rows } = await db.query(
      `SELECT count(*)::int AS n FROM pg_stat_activity
       WHERE state = 'active' AND pid <> pg_backend_pid() AND datname IS NOT NULL AND datname NOT LIKE $1::text || '%'`,
      [prefix],
    );
    return rows[0].n;
  });
}
