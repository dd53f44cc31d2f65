import type { Pool, PoolClient } from 'pg';
import { FerryError } from '../contract/errors';
import { backoffMs, ddlDefaults } from '../pg/ddl';
import { loadStoreMigrations, type StoreMigration } from './files';
import { STORE_SCHEMA } from './schema';

/**
 * ferry's own schema, versioned: the numbered files of src/store/migrations are applied in order,
 * each in its own transaction together with its row in `ferry.schema_migrations`, under a session
 * advisory lock so that concurrent workers (and `ferry setup`) apply each file once.
 *
 * The lock id is the one ferry 0.1.0's `ensureStateSchema` took as a transaction lock, so during
 * a rolling upgrade an old worker creating its tables and a new one adopting them take turns.
 */
export const STORE_LOCK_ID = 0x6665727279; // 'ferry' as bytes

/** How `migrateStore` runs. Every field has a default. */
export interface MigrateStoreOptions {
  /** The schema files (default: the ones shipped with this ferry, `loadStoreMigrations()`). */
  migrations?: readonly StoreMigration[];
  /** `lock_timeout` of each file's transaction (default `FERRY_LOCK_TIMEOUT`, else 1000 ms). */
  lockTimeoutMs?: number;
  /** `statement_timeout` of each file's transaction (default 60000 ms). */
  statementTimeoutMs?: number;
  /** Attempts per file when a lock is not available (default 20), with backoff between them. */
  attempts?: number;
  /** Called after each file is applied. */
  log?: (message: string, fields?: Record<string, unknown>) => void;
}

/** A row of `ferry.schema_migrations`. */
export interface AppliedStoreMigration {
  version: number;
  name: string;
  checksum: string;
  appliedAt: string;
}

/** A schema file by version and name. */
export interface StoreVersion {
  version: number;
  name: string;
}

/** Where the database's ferry schema stands against this ferry's files. */
export interface StoreStatus {
  /** The highest version recorded in the database (0: none, or an unversioned 0.1.0 install). */
  current: number;
  /** The highest version this ferry ships. */
  latest: number;
  /** This ferry's files not yet recorded, in order. */
  pending: StoreVersion[];
  /** What the database records. */
  applied: AppliedStoreMigration[];
  /** Recorded versions this ferry does not know: a newer ferry applied them. */
  unknown: StoreVersion[];
  /** Recorded versions whose file here has another checksum. */
  changed: StoreVersion[];
  /** The role the pool connects as. */
  role: string;
}

/** What `migrateStore` did. */
export interface MigrateStoreResult {
  /** Version before the run. */
  from: number;
  /** Version after the run (= latest). */
  to: number;
  /** Files applied by this run, in order; empty when the schema was up to date. */
  applied: StoreVersion[];
}

const INSUFFICIENT_PRIVILEGE = '42501';
const LOCK_NOT_AVAILABLE = '55P03';

/**
 * Brings ferry's schema in the database up to this ferry's latest version. Run once per worker
 * start-up (`createFerryWorker`) and by `ferry setup`; never before an activity.
 *
 * With nothing pending it only reads `ferry.schema_migrations` (no DDL), so a worker role
 * without CREATE privilege runs. It refuses, changing nothing, when the database records a
 * version newer than this ferry knows (an older worker must not run against a newer schema) or a
 * recorded file's checksum differs from this ferry's copy. When files are pending and the role
 * may not create them, it fails saying to run `ferry setup` as an owner role.
 *
 * @example
 * const { from, to, applied } = await migrateStore(pool, { log: console.log });
 * // first run: { from: 0, to: 1, applied: [{ version: 1, name: 'initial' }] }; then applied: []
 * @throws FerryError FAILED (newer schema, changed file, missing privilege, a file failed) or
 *   UNAVAILABLE (a lock on ferry's tables was not available after all attempts).
 */
export async function migrateStore(pool: Pool, opts: MigrateStoreOptions = {}): Promise<MigrateStoreResult> {
  const known = opts.migrations ?? loadStoreMigrations();
  const settings = { ...ddlDefaults(), ...definedOnly(opts) };
  const client = await pool.connect();
  let unlocked = false;
  try {
    await client.query('SELECT pg_advisory_lock($1::bigint)', [STORE_LOCK_ID]);
    try {
      const status = await inspect(client, known);
      assertStoreCompatible(status);
      const from = status.current;
      const applied: StoreVersion[] = [];
      if (status.pending.length > 0) {
        await bootstrap(client, status);
        for (const version of status.pending) {
          const file = known.find((m) => m.version === version.version)!;
          await applyFile(client, file, settings, status, applied);
          applied.push(version);
          opts.log?.(`store: applied ${file.file}`, { version: file.version });
        }
      }
      return { from, to: status.latest, applied };
    } finally {
      await client.query('SELECT pg_advisory_unlock($1::bigint)', [STORE_LOCK_ID]).then(
        () => (unlocked = true),
        () => undefined, // the connection is ended below, which releases the lock
      );
    }
  } finally {
    // A client whose unlock did not run still holds the session lock: end its connection.
    client.release(unlocked ? undefined : new Error('ferry store lock not released'));
  }
}

/**
 * Where the database's ferry schema stands: current, latest and pending versions, plus any
 * recorded versions this ferry does not know or whose file changed. Reads only; takes no lock.
 * @example const { current, latest, pending } = await storeStatus(pool)
 * @throws FerryError FAILED when the role may not read `ferry.schema_migrations`.
 */
export async function storeStatus(pool: Pool, opts: Pick<MigrateStoreOptions, 'migrations'> = {}): Promise<StoreStatus> {
  const client = await pool.connect();
  try {
    return await inspect(client, opts.migrations ?? loadStoreMigrations());
  } finally {
    client.release();
  }
}

async function inspect(client: PoolClient, known: readonly StoreMigration[]): Promise<StoreStatus> {
  // The catalog, not to_regclass: to_regclass raises when the role lacks USAGE on the schema.
  const { rows: found } = await client.query(
    `SELECT current_user AS role, EXISTS (
       SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = $1::text AND c.relname = 'schema_migrations') AS versioned`,
    [STORE_SCHEMA],
  );
  const role = found[0].role as string;
  let applied: AppliedStoreMigration[] = [];
  if (found[0].versioned) {
    try {
      const { rows } = await client.query(`SELECT version, name, checksum, applied_at FROM ferry.schema_migrations ORDER BY version`);
      applied = rows.map((r) => ({
        version: r.version,
        name: r.name,
        checksum: r.checksum,
        appliedAt: new Date(r.applied_at).toISOString(),
      }));
    } catch (err) {
      if (sqlstate(err) !== INSUFFICIENT_PRIVILEGE) throw err;
      throw new FerryError(
        'FAILED',
        `role "${role}" may not read ferry.schema_migrations (${(err as Error).message}). ` +
          `Run "ferry setup --grant-to ${role}" with DATABASE_URL of the role that owns schema "ferry", then start again.`,
      );
    }
  }
  const byVersion = new Map(applied.map((a) => [a.version, a]));
  const latest = known.length ? known[known.length - 1].version : 0;
  return {
    current: applied.length ? applied[applied.length - 1].version : 0,
    latest,
    pending: known.filter((m) => !byVersion.has(m.version)).map(versionOf),
    applied,
    unknown: applied.filter((a) => !known.some((m) => m.version === a.version)).map(versionOf),
    changed: known.filter((m) => byVersion.has(m.version) && byVersion.get(m.version)!.checksum !== m.checksum).map(versionOf),
    role,
  };
}

/**
 * Throws when the database's ferry schema must not be used by this ferry: it records versions
 * this ferry does not know (a newer ferry applied them) or a recorded file changed.
 * @example assertStoreCompatible(await storeStatus(pool))
 * @throws FerryError FAILED naming the versions and what to run instead.
 */
export function assertStoreCompatible(status: StoreStatus): void {
  if (status.unknown.length > 0) {
    throw new FerryError(
      'FAILED',
      `the database's ferry schema is at version ${status.current} (${list(status.unknown)} applied by a newer ferry), ` +
        `but this ferry knows versions up to ${status.latest}; an older ferry must not run against a newer schema. ` +
        `Run the ferry release that applied version ${status.current} (or a later one); nothing was changed.`,
    );
  }
  if (status.changed.length > 0) {
    throw new FerryError(
      'FAILED',
      `ferry schema file${status.changed.length > 1 ? 's' : ''} ${list(status.changed)} differ${status.changed.length > 1 ? '' : 's'} ` +
        `from the copy recorded in ferry.schema_migrations (checksum mismatch): an applied schema file was edited. ` +
        'Restore the released file and put the change in a new numbered file; nothing was changed.',
    );
  }
}

/** Schema `ferry` (when missing) and `ferry.schema_migrations`, in one transaction. */
async function bootstrap(client: PoolClient, status: StoreStatus): Promise<void> {
  try {
    await client.query('BEGIN');
    const { rows } = await client.query(`SELECT to_regnamespace($1::text) IS NOT NULL AS present`, [STORE_SCHEMA]);
    // CREATE SCHEMA IF NOT EXISTS checks CREATE on the database even when the schema exists.
    if (!rows[0].present) await client.query('CREATE SCHEMA ferry');
    await client.query(`CREATE TABLE IF NOT EXISTS ferry.schema_migrations (
      version    int         PRIMARY KEY,
      name       text        NOT NULL,
      checksum   text        NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    await client.query(`COMMENT ON TABLE ferry.schema_migrations IS
      'The versions of ferry''s own schema applied here (src/store/migrations), one row per file.'`);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw privilegeError(err, status) ?? err;
  }
}

type Settings = ReturnType<typeof ddlDefaults>;

async function applyFile(client: PoolClient, file: StoreMigration, s: Settings, status: StoreStatus, done: StoreVersion[]): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await client.query('BEGIN');
      await client.query(`SELECT set_config('lock_timeout', $1::text, true), set_config('statement_timeout', $2::text, true)`, [
        `${s.lockTimeoutMs}ms`,
        `${s.statementTimeoutMs}ms`,
      ]);
      await client.query(file.sql);
      await client.query(`INSERT INTO ferry.schema_migrations (version, name, checksum) VALUES ($1::int, $2::text, $3::text)`, [
        file.version,
        file.name,
        file.checksum,
      ]);
      await client.query('COMMIT');
      return;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      const code = sqlstate(err);
      if (code === LOCK_NOT_AVAILABLE && attempt < s.attempts) {
        await new Promise((resolve) => setTimeout(resolve, backoffMs(attempt)));
        continue;
      }
      const denied = privilegeError(err, status);
      if (denied) throw denied;
      if (!code) throw err; // a broken connection: the caller retries the whole run
      const before = done.length
        ? `${done.length > 1 ? 'versions' : 'version'} ${done.map((d) => d.version).join(', ')} ${done.length > 1 ? 'were' : 'was'} applied; `
        : '';
      throw new FerryError(
        code === LOCK_NOT_AVAILABLE ? 'UNAVAILABLE' : 'FAILED',
        `ferry schema file ${file.file} failed: ${(err as Error).message} (SQLSTATE ${code}); ${before}nothing of ${file.file} was applied. ` +
          (code === LOCK_NOT_AVAILABLE
            ? `A long transaction holds a lock on ferry's tables (after ${attempt} attempts); let it finish and start again.`
            : 'Check the database and run "ferry setup" again.'),
      );
    }
  }
}

/** The "run ferry setup as an owner" error, when `err` is a permission error. */
function privilegeError(err: unknown, status: StoreStatus): FerryError | undefined {
  if (sqlstate(err) !== INSUFFICIENT_PRIVILEGE) return undefined;
  return new FerryError(
    'FAILED',
    `ferry's schema is at version ${status.current} and this ferry needs version ${status.latest} ` +
      `(pending: ${list(status.pending)}), but role "${status.role}" may not create it: ${(err as Error).message}. ` +
      'Run "ferry setup" with DATABASE_URL of an owner role (the owner of the database and of schema "ferry", or a superuser), ' +
      `adding "--grant-to ${status.role}" to grant this worker what it needs, then start the worker again.`,
  );
}

function list(versions: StoreVersion[]): string {
  return versions.map((v) => `${String(v.version).padStart(4, '0')}_${v.name}`).join(', ');
}

function versionOf(m: { version: number; name: string }): StoreVersion {
  return { version: m.version, name: m.name };
}

function definedOnly(opts: MigrateStoreOptions): Partial<Settings> {
  const out: Partial<Settings> = {};
  if (opts.lockTimeoutMs !== undefined) out.lockTimeoutMs = opts.lockTimeoutMs;
  if (opts.statementTimeoutMs !== undefined) out.statementTimeoutMs = opts.statementTimeoutMs;
  if (opts.attempts !== undefined) out.attempts = opts.attempts;
  return out;
}

function sqlstate(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}
