import type { Pool } from 'pg';
import { parseDuration } from '../contract/duration';
import { FerryError } from '../contract/errors';
import { isDefinitionError, LOCK_NOT_AVAILABLE, sqlstate } from './errors';
import { literal } from './quote';
import { releaseAfter, withTransaction } from './transaction';

/** How `runDdl` runs statements. Every field has a default. */
export interface DdlOptions {
  /** `lock_timeout` of each attempt (default `FERRY_LOCK_TIMEOUT`, else 1000 ms). */
  lockTimeoutMs?: number;
  /** `statement_timeout` of each attempt (default 60000 ms). */
  statementTimeoutMs?: number;
  /** Attempts per statement when a lock is not available (default 20). */
  attempts?: number;
  /** The table the statements change, `"schema"."name"`, for messages and the blocker hint. */
  table?: string;
  /** Worker-side log. */
  log?: (message: string, fields?: Record<string, unknown>) => void;
  /** Called before each wait for a retry (activities heartbeat here). */
  onRetry?: (retry: { statement: number; attempt: number; delayMs: number }) => void;
  /** Waits between attempts; tests may replace it. */
  sleep?: (ms: number) => Promise<void>;
}

/** What `runDdl` did: statements run and lock-timeout retries taken. */
export interface DdlResult {
  statements: number;
  retries: number;
}

const BACKOFF_FIRST_MS = 50;
const BACKOFF_MAX_MS = 10_000;

/**
 * The defaults, read from the environment: `FERRY_LOCK_TIMEOUT` (a duration such as `500ms` or
 * `2s`), else 1000 ms; statement timeout 60000 ms; 20 attempts.
 * @example ddlDefaults({ FERRY_LOCK_TIMEOUT: '250ms' }).lockTimeoutMs // 250
 */
export function ddlDefaults(
  env: NodeJS.ProcessEnv = process.env,
): Required<Pick<DdlOptions, 'lockTimeoutMs' | 'statementTimeoutMs' | 'attempts'>> {
  const lock = env.FERRY_LOCK_TIMEOUT?.trim();
  return {
    lockTimeoutMs: lock ? parseDuration(lock, 'FERRY_LOCK_TIMEOUT') : 1000,
    statementTimeoutMs: 60_000,
    attempts: 20,
  };
}

/**
 * True for statements PostgreSQL refuses inside a transaction block: anything `CONCURRENTLY`,
 * and `VACUUM`. `runDdl` runs those alone, with session-level settings.
 * @example needsOwnSession('CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a)') // true
 */
export function needsOwnSession(statement: string): boolean {
  return /\bCONCURRENTLY\b/i.test(statement) || /^\s*VACUUM\b/i.test(statement);
}

/**
 * Wait before attempt `attempt + 1`: exponential from 50 ms, capped at 10 s, half of it random
 * (jitter) so that several waiters do not retry in step.
 * @example backoffMs(1, () => 0) // 25
 */
export function backoffMs(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** (attempt - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/**
 * Runs DDL without queueing the application behind it. Each statement runs in its own short
 * transaction under `SET LOCAL lock_timeout` and `statement_timeout`, so a statement waiting for
 * a lock blocks other sessions for at most the lock timeout. `CONCURRENTLY` and `VACUUM` run
 * alone with session settings that are reset afterwards. When the lock is not available (55P03)
 * the statement is retried with exponential backoff and jitter, up to `attempts` times; then a
 * retryable FerryError UNAVAILABLE names the table and how to find the blocking transaction.
 *
 * Statements must be safe to run twice (`IF [NOT] EXISTS`): a crash can repeat them. A
 * `CREATE INDEX CONCURRENTLY` that timed out leaves an invalid index that `IF NOT EXISTS` then
 * skips; precede it with `DROP INDEX CONCURRENTLY IF EXISTS` when that matters.
 *
 * @example await runDdl(pool, ['ALTER TABLE posts ADD COLUMN IF NOT EXISTS member_uuid uuid'], { table: '"public"."posts"' })
 * @throws FerryError UNAVAILABLE (lock not available after all attempts), INVALID_DEFINITION
 *   (the statement is wrong: SQLSTATE class 42) or FAILED (any other error).
 */
export async function runDdl(pool: Pool, statements: string[], opts: DdlOptions = {}): Promise<DdlResult> {
  const settings = { ...ddlDefaults(), ...definedOnly(opts) };
  let retries = 0;
  for (const [index, statement] of statements.entries()) {
    for (let attempt = 1; ; attempt++) {
      try {
        await runOnce(pool, statement, settings);
        break;
      } catch (err) {
        if (sqlstate(err) !== LOCK_NOT_AVAILABLE) throw statementError(err, statement, index, statements.length, opts.table);
        if (attempt >= settings.attempts) throw await lockError(pool, statement, attempt, settings.lockTimeoutMs, opts.table);
        const delayMs = backoffMs(attempt);
        retries++;
        opts.log?.('ddl: lock not available, retrying', { table: opts.table, statement: index + 1, attempt, delayMs });
        opts.onRetry?.({ statement: index + 1, attempt, delayMs });
        await (opts.sleep ?? sleep)(delayMs);
      }
    }
  }
  return { statements: statements.length, retries };
}

type Settings = ReturnType<typeof ddlDefaults>;

function definedOnly(opts: DdlOptions): Partial<Settings> {
  const out: Partial<Settings> = {};
  if (opts.lockTimeoutMs !== undefined) out.lockTimeoutMs = positiveInt(opts.lockTimeoutMs, 'lockTimeoutMs');
  if (opts.statementTimeoutMs !== undefined) out.statementTimeoutMs = positiveInt(opts.statementTimeoutMs, 'statementTimeoutMs');
  if (opts.attempts !== undefined) out.attempts = positiveInt(opts.attempts, 'attempts');
  return out;
}

function positiveInt(value: number, what: string): number {
  if (Number.isFinite(value) && value >= 1) return Math.round(value);
  throw new FerryError('BAD_INPUT', `DDL option "${what}" is ${value}; it must be a positive number.`);
}

/** One statement: in a transaction with local timeouts, or alone (CONCURRENTLY, VACUUM) with session timeouts reset after. */
async function runOnce(pool: Pool, statement: string, s: Settings): Promise<void> {
  const timeouts = { lock_timeout: `${s.lockTimeoutMs}ms`, statement_timeout: `${s.statementTimeoutMs}ms` };
  if (!needsOwnSession(statement)) {
    await withTransaction(pool, (client) => client.query(statement), { settings: timeouts });
    return;
  }
  const client = await pool.connect();
  let failure: unknown;
  try {
    await client.query(`SELECT set_config('lock_timeout', $1::text, false), set_config('statement_timeout', $2::text, false)`, [
      timeouts.lock_timeout,
      timeouts.statement_timeout,
    ]);
    await client.query(statement);
  } catch (err) {
    failure = err;
    throw err;
  } finally {
    await client.query('RESET lock_timeout; RESET statement_timeout').catch((err) => (failure ??= err));
    await releaseAfter(client, failure);
  }
}

function excerpt(statement: string): string {
  const oneLine = statement.replace(/\s+/g, ' ').trim();
  return `"${oneLine.length > 120 ? `${oneLine.slice(0, 117)}...` : oneLine}"`;
}

function statementError(err: unknown, statement: string, index: number, count: number, table?: string): unknown {
  const code = sqlstate(err);
  if (!code) return err; // connection errors stay as they are: Temporal retries them
  const on = table ? ` on table ${table}` : '';
  const where = `DDL statement ${index + 1} of ${count}${on}, ${excerpt(statement)}`;
  const message = `${where} failed: ${(err as Error).message} (SQLSTATE ${code}).`;
  if (isDefinitionError(err)) {
    return new FerryError('INVALID_DEFINITION', `${message} Fix the statement in the migration; the statements before it were applied.`);
  }
  return new FerryError('FAILED', `${message} Check the database and retry; the statements before it were applied.`);
}

async function lockError(pool: Pool, statement: string, attempts: number, lockTimeoutMs: number, table?: string): Promise<FerryError> {
  const what = table ? `table ${table}` : 'its table';
  const holders = table ? await lockHolders(pool, table) : '';
  const find = table
    ? `SELECT a.pid, a.state, a.xact_start, a.query FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.relation = to_regclass(${literal(table)})`
    : `SELECT pid, state, xact_start, query FROM pg_stat_activity WHERE state <> 'idle' AND xact_start < now() - interval '1 minute' ORDER BY xact_start`;
  return new FerryError(
    'UNAVAILABLE',
    `DDL ${excerpt(statement)} could not lock ${what} within ${lockTimeoutMs}ms in ${attempts} attempts: ` +
      `another transaction holds a conflicting lock${holders}. Find the blocking transaction with ` +
      `\`${find}\` and let it finish (or end it with pg_terminate_backend(pid)); the activity is retried on its own. ` +
      'Raise FERRY_LOCK_TIMEOUT only if blocking the application for that long is acceptable.',
  );
}

/** Sessions holding granted locks on the table right now: pid and state only, never query text. */
async function lockHolders(pool: Pool, table: string): Promise<string> {
  try {
    const { rows } = await pool.query(
      `SELECT DISTINCT a.pid, a.state FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.relation = to_regclass($1::text) AND l.granted AND a.pid <> pg_backend_pid() ORDER BY a.pid LIMIT 5`,
      [table],
    );
    return rows.length ? ` (now held by ${rows.map((r) => `pid ${r.pid} (${r.state})`).join(', ')})` : '';
  } catch {
    return '';
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
