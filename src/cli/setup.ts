/**
 * `ferry setup`: a DBA installs or upgrades ferry's own schema ahead of time, as an owner role,
 * and grants a least-privilege worker role what it needs. See docs/setup.md.
 */
import type { Pool } from 'pg';
import { FerryError } from '../contract/errors';
import { createPool } from '../pg/pool';
import { quoteIdent } from '../pg/quote';
import { assertStoreCompatible, migrateStore, storeStatus, type StoreVersion } from '../store/migrate';
import { STORE_SCHEMA } from '../store/schema';

/** Flags of `ferry setup`. */
export interface SetupOptions {
  /** A worker role to grant ferry's privileges to. */
  grantTo?: string;
  /** Print what would be applied and granted; change nothing. */
  dryRun?: boolean;
  json?: boolean;
}

/** What `ferry setup` did (or, with `--dry-run`, would do). */
export interface SetupResult {
  dryRun: boolean;
  from: number;
  to: number;
  applied: StoreVersion[];
  grantTo?: string;
  grants: string[];
}

/**
 * The statements that give `role` what a least-privilege ferry worker needs in ferry's schema:
 * USAGE and CREATE on schema `ferry` (CREATE: the dual-write trigger functions the worker creates
 * there at expand time), read/write on ferry's tables, read-only on `ferry.schema_migrations`,
 * EXECUTE on its functions, and the same table privileges on tables later schema files add (when
 * `ferry setup` applies them as this role). Privileges on the user's own tables are not here:
 * the worker also needs whatever its migrations' DDL needs (see docs/setup.md).
 * @example grantStatements('app', 'ferry_worker')[0] // 'GRANT CONNECT ON DATABASE "app" TO "ferry_worker"'
 */
export function grantStatements(database: string, role: string): string[] {
  const r = quoteIdent(role);
  const s = quoteIdent(STORE_SCHEMA);
  return [
    `GRANT CONNECT ON DATABASE ${quoteIdent(database)} TO ${r}`,
    `GRANT USAGE, CREATE ON SCHEMA ${s} TO ${r}`,
    `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ${s} TO ${r}`,
    `REVOKE INSERT, UPDATE, DELETE ON ${s}.${quoteIdent('schema_migrations')} FROM ${r}`,
    `GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA ${s} TO ${r}`,
    `ALTER DEFAULT PRIVILEGES IN SCHEMA ${s} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ${r}`,
  ];
}

/**
 * Runs `ferry setup` against `DATABASE_URL` (or `pool`): applies the pending schema files under
 * ferry's lock, then, with `grantTo`, grants that role in one transaction. With `dryRun` it only
 * reports. The role is checked before anything changes.
 * @example await setup({ grantTo: 'ferry_worker' }) // { from: 0, to: 1, applied: [...], grants: [...] }
 * @throws FerryError BAD_INPUT (no DATABASE_URL, no such role) or FAILED (newer schema,
 *   changed file, missing privilege, unreachable database).
 */
export async function setup(opts: SetupOptions, pool?: Pool): Promise<SetupResult> {
  const db = pool ?? createPool(undefined, { max: 2 });
  try {
    return await reachable(() => runSetup(db, opts));
  } finally {
    if (!pool) await db.end();
  }
}

async function runSetup(pool: Pool, opts: SetupOptions): Promise<SetupResult> {
  const { rows } = await pool.query(
    `SELECT current_database() AS database, current_user AS role,
            EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1::text) AS grantee_exists`,
    [opts.grantTo ?? ''],
  );
  const { database, role } = rows[0] as { database: string; role: string };
  if (opts.grantTo !== undefined && !rows[0].grantee_exists) {
    throw new FerryError(
      'BAD_INPUT',
      `role "${opts.grantTo}" does not exist in this PostgreSQL cluster; nothing was changed. ` +
        `Create it first, e.g. CREATE ROLE ${quoteIdent(opts.grantTo)} LOGIN PASSWORD '...'; then run "ferry setup --grant-to ${opts.grantTo}" again.`,
    );
  }
  if (opts.grantTo === role) {
    throw new FerryError(
      'BAD_INPUT',
      `--grant-to names "${role}", the role ferry setup connects as; name the worker's role instead. Nothing was changed.`,
    );
  }
  const grants = opts.grantTo !== undefined ? grantStatements(database, opts.grantTo) : [];
  if (opts.dryRun) {
    const status = await storeStatus(pool);
    assertStoreCompatible(status);
    return { dryRun: true, from: status.current, to: status.latest, applied: status.pending, grantTo: opts.grantTo, grants };
  }
  const result = await migrateStore(pool);
  if (grants.length) {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      for (const statement of grants) await client.query(statement);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw new FerryError(
        'FAILED',
        `granting ferry's privileges to role "${opts.grantTo}" failed: ${(err as Error).message}; no grant was made. ` +
          'Run "ferry setup --grant-to" as the owner of schema "ferry" (the role that applied it) or a superuser.',
      );
    } finally {
      client.release();
    }
  }
  return { dryRun: false, ...result, grantTo: opts.grantTo, grants };
}

/** Connection failures become one line naming DATABASE_URL, not a stack trace. */
async function reachable<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof FerryError) throw err;
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) {
      throw new FerryError('FAILED', `ferry setup failed: ${(err as Error).message} (SQLSTATE ${code}).`);
    }
    throw new FerryError(
      'FAILED',
      `cannot reach the database in DATABASE_URL: ${(err as Error).message}. Check DATABASE_URL and that PostgreSQL is up.`,
    );
  }
}

/**
 * The text `ferry setup` prints.
 * @example formatSetup({ dryRun: false, from: 1, to: 1, applied: [], grants: [] }) // 'ferry schema up to date at version 1'
 */
export function formatSetup(r: SetupResult): string {
  const lines: string[] = [];
  const name = (v: StoreVersion) => `${String(v.version).padStart(4, '0')}_${v.name}`;
  if (r.applied.length === 0) lines.push(`ferry schema up to date at version ${r.to}`);
  else {
    for (const v of r.applied) lines.push(`${r.dryRun ? 'would apply' : 'applied'} ${name(v)}`);
    lines.push(`ferry schema ${r.dryRun ? 'would go' : 'upgraded'} from version ${r.from} to ${r.to}`);
  }
  if (r.grantTo !== undefined) {
    lines.push(`${r.dryRun ? 'would grant' : 'granted'} to role "${r.grantTo}":`);
    for (const g of r.grants) lines.push(`  ${g};`);
    lines.push("  (plus what its migrations' own DDL needs on your tables: see docs/setup.md)");
  }
  return lines.join('\n');
}

/** `ferry setup` as the CLI runs it: prints text or JSON. */
export async function setupCommand(opts: SetupOptions): Promise<void> {
  const result = await setup(opts);
  console.log(opts.json ? JSON.stringify(result, null, 2) : formatSetup(result));
}
