import type { Pool } from 'pg';
import { parseDuration } from '../contract/duration';
import { FerryError } from '../contract/errors';
import { isDefinitionError, LOCK_NOT_AVAILABLE, sqlstate } from './errors';
import { analyzeStatements, needsOwnSession, type Relation, type StatementInfo } from './parse';
import { literal, quoteIdent } from './quote';
import { releaseAfter, withTransaction } from './transaction';

export { needsOwnSession };

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
  /** The definition field the statements come from (`expand.up`), for parse errors. */
  field?: string;
}

/** What `runDdl` did: statements run and lock-timeout retries taken. */
export interface DdlResult {
  statements: number;
  retries: number;
  /** Statements whose effect was already there (a valid index of that name, constraints of those names): not run again. */
  skipped: number;
  /** INVALID indexes (an interrupted CREATE INDEX CONCURRENTLY) dropped before building them again. */
  rebuilt: number;
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
 * Wait before attempt `attempt + 1`: exponential from 50 ms, capped at 10 s, half of it random
 * (jitter) so that several waiters do not retry in step.
 * @example backoffMs(1, () => 0) // 25
 */
export function backoffMs(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** (attempt - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/**
 * Runs DDL without queueing the application behind it. Each statement is read by PostgreSQL's
 * parser (`src/pg/parse.ts`) and runs in its own short transaction under `SET LOCAL lock_timeout`
 * and `statement_timeout`, so a statement waiting for a lock blocks other sessions for at most the
 * lock timeout. The forms that cannot run in a transaction block or that are long and
 * non-blocking (`CREATE`/`DROP INDEX CONCURRENTLY`, `REINDEX CONCURRENTLY`, `VACUUM`,
 * `ALTER TABLE ... VALIDATE CONSTRAINT`) run alone, outside a transaction, with a session
 * `lock_timeout` and no statement timeout, reset afterwards. When the lock is not available (55P03)
 * the statement is retried with exponential backoff and jitter, up to `attempts` times; then a
 * retryable FerryError UNAVAILABLE names the table and how to find the blocking transaction.
 *
 * Resuming after a crash: before each statement `statementDone` asks the catalog whether its
 * effect is already there (a valid index of its name; every constraint an ADD CONSTRAINT names),
 * and skips it then; an INVALID index of its name (a concurrent build that was interrupted or
 * failed) is dropped `CONCURRENTLY` and built again. Other statements must be safe to run twice
 * (`IF [NOT] EXISTS`).
 *
 * @example await runDdl(pool, ['ALTER TABLE posts ADD COLUMN IF NOT EXISTS member_uuid uuid'], { table: '"public"."posts"' })
 * @throws FerryError UNAVAILABLE (lock not available after all attempts), INVALID_DEFINITION
 *   (the statement is wrong: SQLSTATE class 42, or the parser refuses it) or FAILED (any other error).
 */
export async function runDdl(pool: Pool, statements: string[], opts: DdlOptions = {}): Promise<DdlResult> {
  const settings = { ...ddlDefaults(), ...definedOnly(opts) };
  const infos = await analyzeStatements(statements, opts.field ?? 'DDL statement');
  const result: DdlResult = { statements: statements.length, retries: 0, skipped: 0, rebuilt: 0 };
  for (const [index, info] of infos.entries()) {
    for (let attempt = 1; ; attempt++) {
      try {
        const state = await statementDone(pool, info, settings);
        if (state === 'done') {
          result.skipped++;
          opts.log?.('ddl: already applied, skipped', { table: opts.table, statement: index + 1 });
        } else {
          if (state === 'rebuilt') result.rebuilt++;
          await runOnce(pool, info, settings);
        }
        break;
      } catch (err) {
        if (info.index?.create && info.index.concurrent) await dropInvalidIndex(pool, info.index, settings).catch(() => undefined);
        if (sqlstate(err) !== LOCK_NOT_AVAILABLE) throw statementError(err, info.text, index, statements.length, opts.table);
        if (attempt >= settings.attempts) throw await lockError(pool, info.text, attempt, settings.lockTimeoutMs, opts.table);
        const delayMs = backoffMs(attempt);
        result.retries++;
        opts.log?.('ddl: lock not available, retrying', { table: opts.table, statement: index + 1, attempt, delayMs });
        opts.onRetry?.({ statement: index + 1, attempt, delayMs });
        await (opts.sleep ?? sleep)(delayMs);
      }
    }
  }
  return result;
}

/**
 * Whether a statement's effect is already there: `done` (skip it), `rebuilt` (an INVALID index of
 * its name was dropped: build it again) or `run`. An index another session is still building
 * counts as a lock not available: the caller waits and asks again.
 */
async function statementDone(pool: Pool, info: StatementInfo, s: Settings): Promise<'done' | 'rebuilt' | 'run'> {
  if (info.index?.create) {
    const { rows } = await pool.query(
      `SELECT i.indisvalid AS valid, p.pid AS building FROM pg_index i
         LEFT JOIN pg_stat_progress_create_index p ON p.index_relid = i.indexrelid
        WHERE i.indexrelid = to_regclass($1::text)`,
      [qualified(info.index)],
    );
    if (!rows[0]) return 'run';
    if (rows[0].valid) return 'done';
    if (rows[0].building) throw lockNotAvailable(`index ${qualified(info.index)} is being built by pid ${rows[0].building}`);
    await dropInvalidIndex(pool, info.index, s);
    return 'rebuilt';
  }
  const adds = info.adds;
  const names = adds?.constraints.flatMap((c) => (c.name ? [c.name] : [])) ?? [];
  if (!adds?.only || names.length === 0) return 'run';
  const { rows } = await pool.query(
    `SELECT count(*)::int AS n FROM pg_constraint WHERE conrelid = to_regclass($1::text) AND conname = ANY($2::text[])`,
    [qualified(adds.table), names],
  );
  return rows[0].n === names.length ? 'done' : 'run';
}

/** Drops the index when it is INVALID and no session builds it (a concurrent build that did not finish), concurrently, under the lock timeout. */
async function dropInvalidIndex(pool: Pool, index: Relation, s: Settings): Promise<void> {
  const { rows } = await pool.query(
    `SELECT NOT i.indisvalid AND NOT EXISTS (SELECT FROM pg_stat_progress_create_index p WHERE p.index_relid = i.indexrelid) AS invalid
       FROM pg_index i WHERE i.indexrelid = to_regclass($1::text)`,
    [qualified(index)],
  );
  if (!rows[0]?.invalid) return; // valid, gone, or still being built by another session
  await alone(pool, `DROP INDEX CONCURRENTLY IF EXISTS ${qualified(index)}`, `${s.lockTimeoutMs}ms`);
}

function qualified(r: Relation): string {
  return r.schema ? `${quoteIdent(r.schema)}.${quoteIdent(r.name)}` : quoteIdent(r.name);
}

function lockNotAvailable(message: string): Error {
  return Object.assign(new Error(message), { code: LOCK_NOT_AVAILABLE, severity: 'ERROR' });
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

/** One statement: in a transaction with local timeouts, or alone (outside a transaction) with a session lock timeout. */
async function runOnce(pool: Pool, info: StatementInfo, s: Settings): Promise<void> {
  if (info.outsideTransaction || info.long) return alone(pool, info.text, `${s.lockTimeoutMs}ms`);
  const timeouts = { lock_timeout: `${s.lockTimeoutMs}ms`, statement_timeout: `${s.statementTimeoutMs}ms` };
  await withTransaction(pool, (client) => client.query(info.text), { settings: timeouts });
}

/**
 * A statement outside any transaction block, on a connection of its own: session `lock_timeout`,
 * no `statement_timeout` (a concurrent build or a validation reads the whole table, and blocks
 * no reader or writer meanwhile); both reset before the connection goes back to the pool.
 */
async function alone(pool: Pool, statement: string, lockTimeout: string): Promise<void> {
  const client = await pool.connect();
  let failure: unknown;
  try {
    await client.query(`SELECT set_config('lock_timeout', $1::text, false), set_config('statement_timeout', '0', false)`, [lockTimeout]);
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
