import { escapeIdentifier, escapeLiteral } from 'pg';

/**
 * The one place that turns names into SQL. Every identifier ferry puts in a statement passes
 * through `quoteIdent` or `quoteTable`; values are `$n` parameters, except in the few statements
 * that must share a simple query (one round trip) with others, which take `inlineLiteral` and
 * `inlineInteger`.
 */

/** `quoteIdent('Odd-Table') === '"Odd-Table"'`. */
export function quoteIdent(name: string): string {
  return escapeIdentifier(name);
}

/**
 * A string as an SQL literal, for SQL that ferry prints for a person to run (hints in messages,
 * `ferry plan`); statements ferry runs pass values as `$n` parameters instead (but see
 * `inlineLiteral`).
 * @example literal("it's") === "'it''s'"
 */
export function literal(text: string): string {
  return escapeLiteral(text);
}

/**
 * A string as a literal in a statement that ferry runs by the simple query protocol, which takes
 * no parameters: only where several statements must go in one round trip (the batch transaction's
 * first statements, `withTransaction`'s `first`). Quoted as `literal` does (`E'...'` when it holds
 * a backslash, so it reads the same whatever `standard_conforming_strings` is).
 * @throws Error on a NUL character, which no PostgreSQL text can hold.
 * @example inlineLiteral("it's") === "'it''s'"
 */
export function inlineLiteral(text: string): string {
  if (text.includes('\0')) throw new Error(`the value ${JSON.stringify(text)} holds a NUL character, which PostgreSQL text cannot.`);
  return escapeLiteral(text);
}

/**
 * An integer as a literal for the simple query protocol (see `inlineLiteral`).
 * @throws Error when `n` is not a safe integer.
 * @example inlineInteger(3) === '3'
 */
export function inlineInteger(n: number): string {
  if (!Number.isSafeInteger(n)) throw new Error(`${String(n)} is not an integer; cannot put it into SQL.`);
  return String(n);
}

/**
 * A `bigint` held as text (a batch count) as a literal for the simple protocol: its digits.
 * @throws Error when it is not all digits.
 * @example inlineBigint('41') === '41'
 */
export function inlineBigint(digits: string): string {
  if (!/^\d+$/.test(digits)) throw new Error(`"${digits}" is not a number; cannot put it into SQL.`);
  return digits;
}

/**
 * A `text[]` (a key as text) as a literal for the simple protocol: `ARRAY['1', 'a']`, or `NULL`.
 * @example inlineTextArray(["it's"]) === "ARRAY['it''s']"
 */
export function inlineTextArray(values: readonly string[] | null): string {
  return values === null ? 'NULL' : `ARRAY[${values.map(inlineLiteral).join(', ')}]`;
}

/** A table name split into schema and name. `parseTableName('"Mixed Case"."Odd-Table"')`. */
export interface TableName {
  schema: string;
  name: string;
}

/**
 * Parses `posts`, `public.posts` or `"Mixed Case"."Odd-Table"` into its parts; an unqualified
 * name is in `public`. Unquoted parts are folded to lower case, as PostgreSQL does.
 */
export function parseTableName(text: string): TableName {
  const parts: string[] = [];
  const re = /\s*(?:"((?:[^"]|"")+)"|([^".\s]+))\s*(\.|$)/y;
  let match: RegExpExecArray | null;
  let end = false;
  while (!end && (match = re.exec(text)) !== null) {
    parts.push(match[1] !== undefined ? match[1].replace(/""/g, '"') : match[2].toLowerCase());
    end = match[3] === '' || re.lastIndex >= text.length;
  }
  if (!end || parts.length === 0 || parts.length > 2) {
    throw new Error(`table "${text}" is not a table name; write it as name, schema.name or "Schema"."Name".`);
  }
  return parts.length === 1 ? { schema: 'public', name: parts[0] } : { schema: parts[0], name: parts[1] };
}

/** `"schema"."name"`, quoted. */
export function quoteTable(table: TableName): string {
  return `${quoteIdent(table.schema)}.${quoteIdent(table.name)}`;
}
