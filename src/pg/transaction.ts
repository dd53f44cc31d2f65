import type { Pool, PoolClient, QueryResult } from 'pg';
import { sqlstate } from './errors';

/**
 * Every transaction ferry runs goes through `withTransaction`: one place for BEGIN/COMMIT/ROLLBACK,
 * transaction-local settings, and the one rule for a broken connection.
 */

/** How a transaction runs. */
export interface TransactionOptions {
  /** `BEGIN READ ONLY`: health checks, verify and probe scans. */
  readOnly?: boolean;
  /** Transaction-local settings (`set_config(name, value, true)`), e.g. `{ lock_timeout: '2s' }`. */
  settings?: Record<string, string>;
  /**
   * The transaction's first statements, sent with `BEGIN` in one simple query (one round trip);
   * their results are handed to the body. The simple protocol takes no `$n` parameters: values
   * go in as literals (`inlineLiteral`, `inlineInteger` in `quote.ts`). In READ COMMITTED each
   * statement still takes its own snapshot, after the statements before it have run.
   */
  first?: string;
}

/** Returned by a transaction's body to roll back and still hand a value to the caller. */
export class RollbackWith<T> {
  constructor(readonly value: T) {}
}

/**
 * Returned by a transaction's body to send `statements` with its COMMIT in one simple query (one
 * round trip; literals only, as `first`); `map` turns their results into the transaction's value.
 * A statement that raises aborts the transaction: the COMMIT after it does not run, the error
 * propagates and the transaction rolls back.
 */
export class CommitWith<T> {
  constructor(
    readonly statements: string,
    readonly map: (results: QueryResult[]) => T,
  ) {}
}

/**
 * Runs `fn` in a transaction on one connection of the pool: COMMIT when it returns (with its last
 * statements when it returns a `CommitWith`), ROLLBACK when it throws (the error propagates) or
 * returns `new RollbackWith(value)` (the value is returned).
 * The connection is discarded rather than reused when it is broken (see `releaseAfter`).
 * @example const n = await withTransaction(pool, async (c) => (await c.query('SELECT 1 AS n')).rows[0].n, { readOnly: true })
 */
export async function withTransaction<T>(
  pool: Pool,
  fn: (client: PoolClient, first: QueryResult[]) => Promise<T | RollbackWith<T> | CommitWith<T>>,
  opts: TransactionOptions = {},
): Promise<T> {
  return onConnection(pool, async (client) => {
    const first = await begin(client, opts);
    await setLocal(client, opts.settings);
    const result = await fn(client, first);
    if (result instanceof CommitWith) return result.map(await commitWith(client, result.statements));
    await client.query(result instanceof RollbackWith ? 'ROLLBACK' : 'COMMIT');
    return result instanceof RollbackWith ? result.value : result;
  });
}

/**
 * A whole transaction in one round trip: `BEGIN; <statements>; COMMIT` as one simple query (literals
 * only, as `first`). Resolves to the results of `statements`, in order. A statement that raises
 * aborts the transaction: the statements after it and the COMMIT do not run, the error propagates
 * and the transaction rolls back (`releaseAfter`'s rule for the connection).
 * @example const [lock, batch] = await transactionInOneTrip(pool, [lockSql, batchSql])
 */
export function transactionInOneTrip(pool: Pool, statements: readonly string[]): Promise<QueryResult[]> {
  return onConnection(pool, async (client) => {
    const results = (await client.query(['BEGIN', ...statements, 'COMMIT'].join(';\n'))) as unknown as QueryResult[];
    if (!Array.isArray(results) || results.length !== statements.length + 2) {
      throw new Error(`expected the results of ${statements.length + 2} statements, got ${Array.isArray(results) ? results.length : 1}`);
    }
    return results.slice(1, -1);
  });
}

/** Runs `fn` on one connection of the pool, then gives it back by `releaseAfter`'s rule (the error, if any, propagates). */
async function onConnection<T>(pool: Pool, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let failure: unknown;
  try {
    return await fn(client);
  } catch (err) {
    failure = err;
    throw err;
  } finally {
    await releaseAfter(client, failure);
  }
}

/**
 * The one broken-connection rule: after an error, a connection goes back to the pool only when
 * PostgreSQL itself raised the error (it has a SQLSTATE) and a ROLLBACK succeeds; a network
 * error, a timeout in the client or a failed ROLLBACK discards it. Without an error it is
 * released as it is.
 * @example try { ... } catch (e) { err = e } finally { await releaseAfter(client, err) }
 */
export async function releaseAfter(client: PoolClient, error: unknown): Promise<void> {
  if (error === undefined) return client.release();
  const rolledBack = await client.query('ROLLBACK').then(
    () => true,
    () => false,
  );
  const broken = !rolledBack || sqlstate(error) === undefined;
  client.release(broken ? toError(error) : undefined);
}

/** BEGIN, with `opts.first` in the same round trip; the results of `opts.first`'s statements. */
async function begin(client: PoolClient, opts: TransactionOptions): Promise<QueryResult[]> {
  const text = opts.readOnly ? 'BEGIN READ ONLY' : 'BEGIN';
  if (opts.first === undefined) {
    await client.query(text);
    return [];
  }
  // A query of several statements resolves to one result per statement.
  const results = (await client.query(`${text}; ${opts.first}`)) as unknown as QueryResult | QueryResult[];
  return Array.isArray(results) ? results.slice(1) : [];
}

/** `statements; COMMIT` in one simple query; the results of `statements`. */
async function commitWith(client: PoolClient, statements: string): Promise<QueryResult[]> {
  const results = (await client.query(`${statements}; COMMIT`)) as unknown as QueryResult | QueryResult[];
  return Array.isArray(results) ? results.slice(0, -1) : [];
}

/** `set_config(name, value, true)` for each setting: `SET LOCAL` with the value as a parameter. */
async function setLocal(client: PoolClient, settings: Record<string, string> | undefined): Promise<void> {
  const entries = Object.entries(settings ?? {});
  if (entries.length === 0) return;
  const calls = entries.map((_e, i) => `set_config($${2 * i + 1}::text, $${2 * i + 2}::text, true)`);
  await client.query(`SELECT ${calls.join(', ')}`, entries.flat());
}

function toError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
