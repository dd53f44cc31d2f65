/**
 * Reading PostgreSQL's errors: the one place that decides what an error's SQLSTATE is, and
 * whether a failed connection may go back to the pool.
 */

/**
 * The SQLSTATE of an error PostgreSQL sent, else undefined (a network error, a bug, a
 * cancellation). `pg` puts it in `code` next to `severity`.
 * @example sqlstate(await client.query('SELECT 1/0').catch((e) => e)) // '22012'
 */
export function sqlstate(error: unknown): string | undefined {
  const e = error as { code?: unknown; severity?: unknown } | null;
  return e && typeof e.code === 'string' && typeof e.severity === 'string' && /^[0-9A-Z]{5}$/.test(e.code) ? e.code : undefined;
}

/** SQLSTATE lock_not_available: `lock_timeout` expired. */
export const LOCK_NOT_AVAILABLE = '55P03';

/** SQLSTATE query_canceled: `statement_timeout` expired (or the query was cancelled). */
export const QUERY_CANCELED = '57014';

/**
 * Whether an error is in the author's SQL (class 42: syntax error, undefined column or table…),
 * which a retry cannot fix. Not 42501 (insufficient privilege), which a GRANT fixes.
 * @example isDefinitionError({ code: '42703', severity: 'ERROR' }) // true
 */
export function isDefinitionError(error: unknown): boolean {
  const code = sqlstate(error);
  return code !== undefined && code.startsWith('42') && code !== '42501';
}
