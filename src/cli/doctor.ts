/**
 * `ferry doctor`: what ferry connects to and whether a migration could run there. The Temporal
 * half is src/client/doctor.ts; this file checks PostgreSQL (`DATABASE_URL`: version, role,
 * privileges, ferry's schema) and prints the report. Exits non-zero on anything that would stop
 * a migration, with the exit code of that failure (src/contract/errors.ts).
 */
import type { Pool } from 'pg';
import { FerryError } from '../contract/errors';
import { connectionError, createPool, maskUrl } from '../pg/pool';
import { storeStatus, type StoreStatus } from '../store/migrate';
import { STORE_SCHEMA } from '../store/schema';
import { temporalChecks, type DoctorCheck } from '../client/doctor';

/** What `ferry doctor --json` prints. */
export interface DoctorReport {
  ok: boolean;
  checks: DoctorCheck[];
}

/** The role's standing in the database, read from the catalog. */
interface RoleFacts {
  version: string;
  role: string;
  superuser: boolean;
  database: string;
  schema: string | null;
  createInSchema: boolean;
  createInDatabase: boolean;
  ferrySchema: boolean;
  ferryUsage: boolean;
  ferryCreate: boolean;
}

async function roleFacts(pool: Pool): Promise<RoleFacts> {
  const { rows } = await pool.query(
    `SELECT current_setting('server_version') AS version, current_user AS role, r.rolsuper AS superuser,
            current_database() AS database, current_schema() AS schema,
            COALESCE(has_schema_privilege(current_schema(), 'CREATE'), false) AS "createInSchema",
            has_database_privilege(current_database(), 'CREATE') AS "createInDatabase",
            n.oid IS NOT NULL AS "ferrySchema",
            n.oid IS NOT NULL AND has_schema_privilege(n.oid, 'USAGE') AS "ferryUsage",
            n.oid IS NOT NULL AND has_schema_privilege(n.oid, 'CREATE') AS "ferryCreate"
       FROM pg_catalog.pg_roles r LEFT JOIN pg_catalog.pg_namespace n ON n.nspname = $1::text
      WHERE r.rolname = current_user`,
    [STORE_SCHEMA],
  );
  return rows[0] as RoleFacts;
}

/** The database and role: version, and whether the role may create in its schema. */
function databaseCheck(f: RoleFacts): DoctorCheck {
  const where = `PostgreSQL ${f.version} at DATABASE_URL=${maskUrl(process.env.DATABASE_URL)}`;
  const can = f.superuser ? 'superuser' : `${f.createInSchema ? 'may' : 'may not'} create in schema "${f.schema ?? '(none)'}"`;
  return {
    check: 'postgresql',
    status: f.createInSchema || f.superuser ? 'ok' : 'warn',
    message:
      `${where}, role "${f.role}" (${can})` +
      (f.createInSchema || f.superuser
        ? ''
        : `; expand steps that create objects there will fail unless the role owns the tables (docs/setup.md).`),
    details: { ...f, url: maskUrl(process.env.DATABASE_URL) },
  };
}

/** ferry's own schema: present and current, or pending and who may apply it. */
function storeCheck(f: RoleFacts, s: StoreStatus | undefined): DoctorCheck {
  const fix = `run "ferry setup --grant-to ${f.role}" with DATABASE_URL of the role that owns schema "${STORE_SCHEMA}"`;
  if (s === undefined || (f.ferrySchema && !(f.ferryUsage && f.ferryCreate))) {
    return {
      check: 'ferry schema',
      status: 'fail',
      code: 'FAILED',
      message: `role "${f.role}" lacks USAGE or CREATE on schema "${STORE_SCHEMA}" (the worker reads its tables and creates its trigger functions there); ${fix}.`,
    };
  }
  const details = {
    current: s.current,
    latest: s.latest,
    pending: s.pending.map((v) => v.version),
    unknown: s.unknown.map((v) => v.version),
  };
  if (s.unknown.length || s.changed.length) {
    const what = s.unknown.length
      ? `records versions this ferry does not know (${details.unknown.join(', ')}): a newer ferry applied them; run that release`
      : "has schema files that differ from this ferry's";
    return { check: 'ferry schema', status: 'fail', code: 'FAILED', details, message: `ferry's schema in the database ${what}.` };
  }
  if (s.pending.length === 0)
    return { check: 'ferry schema', status: 'ok', details, message: `ferry's schema is up to date at version ${s.current}` };
  const mayApply = f.superuser || (f.ferrySchema ? f.ferryCreate : f.createInDatabase);
  const pending = `at version ${s.current}, ${s.pending.length} file(s) pending (up to ${s.latest})`;
  return mayApply
    ? {
        check: 'ferry schema',
        status: 'ok',
        details,
        message: `ferry's schema is ${pending}; "ferry worker" applies them at start (role "${f.role}" may)`,
      }
    : {
        check: 'ferry schema',
        status: 'fail',
        code: 'FAILED',
        details,
        message: `ferry's schema is ${pending}, and role "${f.role}" may not create it; ${fix}.`,
      };
}

/**
 * The PostgreSQL checks against `DATABASE_URL`.
 * @example await postgresChecks() // [{ check: 'postgresql', status: 'ok', message: 'PostgreSQL 15.4 at ...' }, ...]
 */
export async function postgresChecks(): Promise<DoctorCheck[]> {
  let pool: Pool;
  try {
    pool = createPool(undefined, { max: 1, connectionTimeoutMillis: 5000 });
  } catch (err) {
    return [{ check: 'postgresql', status: 'fail', code: 'BAD_INPUT', message: (err as Error).message }];
  }
  try {
    const facts = await roleFacts(pool);
    const usable = !facts.ferrySchema || facts.ferryUsage;
    return [databaseCheck(facts), storeCheck(facts, usable ? await storeStatus(pool) : undefined)];
  } catch (err) {
    const e = connectionError(err);
    return [{ check: 'postgresql', status: 'fail', code: e instanceof FerryError ? e.code : 'FAILED', message: (e as Error).message }];
  } finally {
    await pool.end();
  }
}

/**
 * The error `ferry doctor` exits with when a check failed: the first failure's code (so its exit
 * code, by src/contract/errors.ts), naming the failed checks.
 */
export function doctorFailure(report: DoctorReport): FerryError | undefined {
  const failed = report.checks.filter((c) => c.status === 'fail');
  if (failed.length === 0) return undefined;
  return new FerryError(
    failed[0].code ?? 'FAILED',
    `doctor: ${failed.map((c) => c.check).join(', ')} would stop a migration; see the FAIL lines.`,
  );
}

/** The report for people: one line per check. */
export function formatDoctor(report: DoctorReport): string {
  const mark = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL' } as const;
  const lines = report.checks.map((c) => `${mark[c.status]}  ${c.check.padEnd(18)} ${c.message}`);
  lines.push(report.ok ? 'ferry can run migrations here.' : 'ferry cannot run migrations here until the FAIL lines are fixed.');
  return lines.join('\n');
}

/** `ferry doctor [--json]`: prints the report. @throws the `doctorFailure` when a check failed. */
export async function doctorCommand(opts: { json?: boolean }): Promise<void> {
  const [temporal, postgres] = await Promise.all([temporalChecks(), postgresChecks()]);
  const checks = [...temporal, ...postgres];
  const report: DoctorReport = { ok: checks.every((c) => c.status !== 'fail'), checks };
  console.log(opts.json ? JSON.stringify(report, null, 2) : formatDoctor(report));
  const failure = doctorFailure(report);
  if (failure) throw failure;
}
