/**
 * What TypeORM's schema builder would run (`driver.createSchemaBuilder().log()`, the statements
 * `typeorm migration:generate` writes), read with PostgreSQL's own parser (libpg-query) into
 * changes ferry can place: columns added and dropped, indexes, tables, defaults; anything else is
 * kept as `other`, to be listed, never guessed.
 */
import { parse } from 'libpg-query';
import { quoteIdent } from '../pg/quote';

/** A table as the statements name it; `schema` undefined: unqualified (the DataSource's search_path). */
export interface TableRef {
  schema?: string;
  name: string;
}

/** One statement of the schema builder, classified. */
export type Change =
  | { kind: 'add-column'; table: TableRef; column: string; type: string; notNull: boolean; default?: string; sql: string }
  | { kind: 'drop-column'; table: TableRef; column: string; sql: string }
  | { kind: 'create-index'; table: TableRef; index: string; sql: string }
  | { kind: 'drop-index'; index: string[]; sql: string }
  | { kind: 'create-table'; table: TableRef; sql: string }
  | { kind: 'drop-table'; table: string[]; sql: string }
  | { kind: 'column-default'; table: TableRef; column: string; sql: string }
  | { kind: 'drop-not-null'; table: TableRef; column: string; sql: string }
  | { kind: 'rename-column'; table: TableRef; column: string; to: string; sql: string }
  | { kind: 'other'; sql: string; why: string };

/* eslint-disable @typescript-eslint/no-explicit-any -- libpg-query's AST is untyped JSON */

const tableOf = (relation: any): TableRef => ({ ...(relation.schemaname ? { schema: relation.schemaname } : {}), name: relation.relname });
const names = (list: any[]): string[] => list.map((n: any) => n.String.sval);

/** Classifies one statement of the schema builder's log. */
export async function classify(sql: string): Promise<Change> {
  let stmts: any[];
  try {
    stmts = (await parse(sql)).stmts ?? [];
  } catch (err) {
    return { kind: 'other', sql, why: `PostgreSQL's parser refused it (${(err as Error).message})` };
  }
  if (stmts.length !== 1) return { kind: 'other', sql, why: 'not one statement' };
  const [type, node] = Object.entries(stmts[0].stmt)[0] as [string, any];
  if (type === 'AlterTableStmt' && node.cmds.length === 1) return alterTable(sql, tableOf(node.relation), node.cmds[0].AlterTableCmd);
  if (type === 'IndexStmt' && !node.concurrent) return { kind: 'create-index', table: tableOf(node.relation), index: node.idxname, sql };
  if (type === 'RenameStmt' && node.renameType === 'OBJECT_COLUMN' && node.relationType === 'OBJECT_TABLE')
    return { kind: 'rename-column', table: tableOf(node.relation), column: node.subname, to: node.newname, sql };
  if (type === 'CreateStmt') return { kind: 'create-table', table: tableOf(node.relation), sql };
  if (type === 'DropStmt' && node.objects.length === 1) {
    const target = names(node.objects[0].List.items);
    if (node.removeType === 'OBJECT_INDEX') return { kind: 'drop-index', index: target, sql };
    if (node.removeType === 'OBJECT_TABLE') return { kind: 'drop-table', table: target, sql };
  }
  return { kind: 'other', sql, why: `ferry has no safe form for ${type.replace(/Stmt$/, '')} statements` };
}

function alterTable(sql: string, table: TableRef, cmd: any): Change {
  switch (cmd.subtype) {
    case 'AT_AddColumn': {
      const def = cmd.def.ColumnDef;
      const constraints: any[] = (def.constraints ?? []).map((c: any) => c.Constraint);
      const typeEnd = constraints.length ? Math.min(...constraints.map((c) => c.location)) : sql.length;
      const defaultOf = constraints.find((c) => c.contype === 'CONSTR_DEFAULT');
      const others = constraints.filter((c) => !['CONSTR_DEFAULT', 'CONSTR_NOTNULL', 'CONSTR_NULL'].includes(c.contype));
      if (others.length) return { kind: 'other', sql, why: `a new column with ${others.map((c) => c.contype).join(', ')}` };
      return {
        kind: 'add-column',
        table,
        column: def.colname,
        type: sql.slice(def.typeName.location, typeEnd).trim(),
        notNull: constraints.some((c) => c.contype === 'CONSTR_NOTNULL'),
        ...(defaultOf ? { default: defaultText(sql, defaultOf, constraints) } : {}),
        sql,
      };
    }
    case 'AT_DropColumn':
      return { kind: 'drop-column', table, column: cmd.name, sql };
    case 'AT_ColumnDefault':
      return { kind: 'column-default', table, column: cmd.name, sql };
    case 'AT_DropNotNull':
      return { kind: 'drop-not-null', table, column: cmd.name, sql };
    case 'AT_SetNotNull':
      return {
        kind: 'other',
        sql,
        why: 'SET NOT NULL scans the table under an ACCESS EXCLUSIVE lock; add a CHECK (... IS NOT NULL) NOT VALID, VALIDATE it, then SET NOT NULL',
      };
    case 'AT_AlterColumnType':
      return { kind: 'other', sql, why: 'ALTER COLUMN TYPE rewrites the table under an ACCESS EXCLUSIVE lock' };
    default:
      return { kind: 'other', sql, why: `ferry has no safe form for ALTER TABLE ${String(cmd.subtype).replace(/^AT_/, '')}` };
  }
}

/** The text of a DEFAULT clause's expression: from after its keyword to the next constraint, or the end. */
function defaultText(sql: string, constraint: any, all: any[]): string {
  const start = constraint.location + 'DEFAULT'.length; // the constraint starts at its keyword
  const next = all.map((c) => c.location).filter((l) => l > constraint.location);
  return sql.slice(start, next.length ? Math.min(...next) : sql.length).trim();
}

/** A column as the database has it now (its full type, and whether it is NOT NULL). */
export type ColumnNow = (table: TableRef, column: string) => { type: string; notNull: boolean } | undefined;

const tableText = (t: TableRef) => `${t.schema ? `${quoteIdent(t.schema)}.` : ''}${quoteIdent(t.name)}`;

/**
 * TypeORM 0.3's schema builder writes `RENAME COLUMN` when one column of a table is dropped and
 * one of the same type added (1.x writes DROP + ADD); a rename in place breaks the running code,
 * so it becomes what 1.x writes: the new column added (the old one's type, NOT NULL when the
 * old one was or the builder's next SET NOT NULL on it says so, which it absorbs) and the old one dropped.
 * @example unfoldRenames([rename users.full_name → display_name], now) // [add-column display_name, drop-column full_name]
 */
export function unfoldRenames(changes: Change[], now: ColumnNow): Change[] {
  const setNotNull = new Set(
    changes.flatMap((c) =>
      c.kind === 'rename-column' ? [`ALTER TABLE ${tableText(c.table)} ALTER COLUMN ${quoteIdent(c.to)} SET NOT NULL`] : [],
    ),
  );
  return changes.flatMap((c): Change[] => {
    if (setNotNull.has(c.sql)) return [];
    if (c.kind !== 'rename-column') return [c];
    const old = now(c.table, c.column);
    if (!old) return [{ kind: 'other', sql: c.sql, why: `${c.table.name}.${c.column} is not in the database` }];
    const t = tableText(c.table);
    const notNull = old.notNull || changes.some((s) => s.sql === `ALTER TABLE ${t} ALTER COLUMN ${quoteIdent(c.to)} SET NOT NULL`);
    return [
      {
        kind: 'add-column',
        table: c.table,
        column: c.to,
        type: old.type,
        notNull,
        sql: `ALTER TABLE ${t} ADD ${quoteIdent(c.to)} ${old.type}${notNull ? ' NOT NULL' : ''}`,
      },
      { kind: 'drop-column', table: c.table, column: c.column, sql: `ALTER TABLE ${t} DROP COLUMN ${quoteIdent(c.column)}` },
    ];
  });
}
