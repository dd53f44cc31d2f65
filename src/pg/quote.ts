import { escapeIdentifier, escapeLiteral } from 'pg';

/**
 * The one place that turns names into SQL. Every identifier ferry puts in a statement passes
 * through `quoteIdent` or `quoteTable`; values are always `$n` parameters.
 */

/** `quoteIdent('Odd-Table') === '"Odd-Table"'`. */
export function quoteIdent(name: string): string {
  return escapeIdentifier(name);
}

/**
 * A string as an SQL literal, for SQL that ferry prints for a person to run (hints in messages,
 * `ferry plan`); statements ferry runs pass values as `$n` parameters instead.
 * @example literal("it's") === "'it''s'"
 */
export function literal(text: string): string {
  return escapeLiteral(text);
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
