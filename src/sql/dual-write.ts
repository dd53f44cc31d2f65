import { STORE_SCHEMA } from '../store/schema';
import { FerryError } from '../contract/errors';
import { quoteIdent } from '../pg/quote';
import { rangeCountSql, type RangeScanSql, type ScanTarget } from './verify';

/** PostgreSQL truncates longer identifiers (NAMEDATALEN - 1 bytes). */
const MAX_IDENTIFIER_BYTES = 63;

/** The names of ferry's dual-write trigger and its function for one migration. */
export interface TriggerNames {
  /** `"ferry_dw_<migration>"`, quoted. */
  trigger: string;
  /** `"ferry"."dw_<migration>"`, quoted. */
  fn: string;
}

/**
 * The trigger `ferry_dw_<migration>` and its function `ferry."dw_<migration>"()`.
 * @example triggerNames('posts-total') // { trigger: '"ferry_dw_posts-total"', fn: '"ferry"."dw_posts-total"' }
 * @throws FerryError INVALID_DEFINITION when the name would exceed PostgreSQL's 63-byte limit.
 */
export function triggerNames(migration: string): TriggerNames {
  const trigger = `ferry_dw_${migration}`;
  if (Buffer.byteLength(trigger) > MAX_IDENTIFIER_BYTES) {
    throw new FerryError(
      'INVALID_DEFINITION',
      `trigger name "${trigger}" is longer than ${MAX_IDENTIFIER_BYTES} bytes, so PostgreSQL would truncate it; ` +
        `rename migration "${migration}" to at most ${MAX_IDENTIFIER_BYTES - 'ferry_dw_'.length} bytes.`,
    );
  }
  return { trigger: quoteIdent(trigger), fn: `${quoteIdent(STORE_SCHEMA)}.${quoteIdent(`dw_${migration}`)}` };
}

/**
 * `CREATE OR REPLACE FUNCTION` for the trigger: the author's PL/pgSQL statements (assigning
 * NEW's new-shape columns) followed by `RETURN NEW;`. The body is quoted with a dollar tag that
 * does not occur in it; it is never rewritten.
 * @example createFunctionSql('t', 'NEW.total_cents := NEW.price_cents * NEW.quantity;')
 */
export function createFunctionSql(migration: string, body: string): string {
  const tag = dollarTag(body);
  return `CREATE OR REPLACE FUNCTION ${triggerNames(migration).fn}() RETURNS trigger LANGUAGE plpgsql AS ${tag}
BEGIN
${body}
RETURN NEW;
END
${tag}`;
}

/**
 * Replaces the trigger in one statement list, so that one transaction drops and creates it and
 * no write slips through between the two.
 * @example createTriggerSql('t', '"public"."orders"')
 */
export function createTriggerSql(migration: string, table: string): string {
  const { trigger, fn } = triggerNames(migration);
  return `DROP TRIGGER IF EXISTS ${trigger} ON ${table};
CREATE TRIGGER ${trigger} BEFORE INSERT OR UPDATE ON ${table} FOR EACH ROW EXECUTE FUNCTION ${fn}()`;
}

/**
 * Drops the trigger (when the table still exists) and its function.
 * @example dropTriggerSql('t', '"public"."orders"', true)
 */
export function dropTriggerSql(migration: string, table: string, tableExists: boolean): string[] {
  const { trigger, fn } = triggerNames(migration);
  const dropFunction = `DROP FUNCTION IF EXISTS ${fn}()`;
  return tableExists ? [`DROP TRIGGER IF EXISTS ${trigger} ON ${table}`, dropFunction] : [dropFunction];
}

/** Records the deploy mark: the 64-bit id of a new transaction, as text. */
export const MARK_SQL = `SELECT pg_current_xact_id()::text AS xid`;

/** The largest key of the table, as text[]. */
export function maxKeySql(target: ScanTarget): string {
  const cols = target.key.map((k) => `${target.quoted}.${quoteIdent(k.name)}`);
  return `SELECT ARRAY[${cols.map((c) => `${c}::text`).join(', ')}] FROM ${target.quoted} ORDER BY ${cols.map((c) => `${c} DESC`).join(', ')} LIMIT 1`;
}

/** Key types whose new values are larger than old ones (sequences, identities, timestamps). */
export function keyIncreases(target: ScanTarget): boolean {
  return /^(smallint|integer|bigint|numeric|timestamp)/.test(target.key[0].type);
}

/**
 * The probe's own predicate: the row's `xmin` (the 32-bit id of the transaction that wrote this
 * version of the row) lies after the mark `$4` (a 64-bit id as text) and before the oldest id
 * not yet assigned, compared modulo 2^32 so that wraparound is harmless. Special ids (< 3) never
 * match. `table` is quoted.
 * @example xminAfterMarkSql('"public"."orders"')
 */
export function xminAfterMarkSql(table: string): string {
  const xmin = `${table}.xmin::text::bigint`;
  const next = `(SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint)`;
  return `${xmin} >= 3
         AND ((${xmin} - $4::bigint % 4294967296 + 4294967296) % 4294967296)
             BETWEEN 1 AND LEAST(2147483647, ${next} - $4::bigint - 1)`;
}

/**
 * The probe scan: per key range, rows written after the mark that match `wrongWhere` (the
 * verify predicate: `verify.where ?? backfill.where`), excluding recorded failed rows. Parameters: `$1` migration, `$2` run id,
 * `$3` range size, `$4` the mark, then the cursor (`next` only).
 * @example probeSql({ quoted: '"public"."orders"', key: [{ name: 'id', type: 'bigint' }] }, 'total_cents IS NULL')
 */
export function probeSql(target: ScanTarget, wrongWhere: string): RangeScanSql {
  return rangeCountSql(target, wrongWhere, { also: xminAfterMarkSql(target.quoted), extraParams: 1 });
}

function dollarTag(body: string): string {
  let tag = '$ferry$';
  for (let i = 1; body.includes(tag); i++) tag = `$ferry_${i}$`;
  return tag;
}
