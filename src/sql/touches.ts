/**
 * Which tables and columns a migration's DDL changes (`expand.up`, `expand.down`, `contract.up`),
 * read with PostgreSQL's own parser (libpg-query): two migrations that change the same columns of
 * a table take turns (see `checkTurn`, src/activities/waits.ts).
 */
import { parseStatements, str, walkTree } from '../pg/parse';
import { parseTableName, quoteTable } from '../pg/quote';

/** The whole table: a statement that names the table but no column (`ALTER TABLE t SET (…)`, `LOCK`). */
export const WHOLE_TABLE = '*';

/** One table a migration's DDL changes: `"schema"."name"` and its columns (or `*`). */
export interface Touch {
  table: string;
  columns: string[];
}

type Node = Record<string, unknown>;

/** The parts of a definition with DDL, and its table (`src/definition/define.ts`). */
export interface TouchingDdl {
  table: string;
  expand: { up: string[]; down: string[] };
  contract: { up: string[] };
}

/**
 * The tables and columns the DDL of `def` changes, merged per table. A statement that does not
 * parse counts as changing the whole of the migration's table.
 * @example await touchedColumns(def) // [{ table: '"public"."posts"', columns: ['member_id', 'member_uuid'] }]
 */
export async function touchedColumns(def: TouchingDdl): Promise<Touch[]> {
  const touches = new Map<string, Set<string>>();
  const add = (table: string, columns: string[]) => {
    const set = touches.get(table) ?? new Set<string>();
    for (const c of columns.length ? columns : [WHOLE_TABLE]) set.add(c);
    touches.set(table, set);
  };
  for (const sql of [...def.expand.up, ...def.expand.down, ...def.contract.up]) {
    const stmts = await parseStatements(sql).catch(() => undefined);
    if (!stmts) add(quoteTable(parseTableName(def.table)), []);
    for (const stmt of stmts ?? []) {
      const relation = findRelation(stmt as Node);
      if (relation) add(relation, columnsOf(stmt));
    }
  }
  return [...touches].map(([table, columns]) => ({ table, columns: [...columns].sort() }));
}

/**
 * Do two migrations change the same table's columns? The shared columns by table, empty when none.
 * @example overlap(a, b) // [{ table: '"public"."posts"', columns: ['member_uuid'] }]
 */
export function overlap(a: Touch[], b: Touch[]): Touch[] {
  const shared: Touch[] = [];
  for (const x of a) {
    const y = b.find((t) => t.table === x.table);
    if (!y) continue;
    const whole = x.columns.includes(WHOLE_TABLE) || y.columns.includes(WHOLE_TABLE);
    const columns = whole ? [...new Set([...x.columns, ...y.columns])].sort() : x.columns.filter((c) => y.columns.includes(c));
    if (columns.length) shared.push({ table: x.table, columns });
  }
  return shared;
}

/** The statement's table (the first `relation` in it), quoted; unqualified names are in `public`. */
function findRelation(stmt: Node): string | undefined {
  const body = Object.values(stmt)[0] as Node | undefined;
  const rel = body?.relation as { schemaname?: string; relname?: string } | undefined;
  if (!rel?.relname) return undefined;
  return quoteTable({ schema: rel.schemaname ?? 'public', name: rel.relname });
}

/** Every column a statement names: defined, dropped, altered, indexed, renamed or referenced. */
function columnsOf(stmt: unknown): string[] {
  const found = new Set<string>();
  walkTree(stmt, (n, key) => {
    if (key === 'ColumnDef' && typeof n.colname === 'string') found.add(n.colname);
    if (key === 'IndexElem' && typeof n.name === 'string') found.add(n.name);
    if (key === 'AlterTableCmd' && typeof n.name === 'string') found.add(n.name);
    if (key === 'RenameStmt' && n.renameType === 'OBJECT_COLUMN')
      [n.subname, n.newname].forEach((c) => typeof c === 'string' && found.add(c));
    const last = key === 'ColumnRef' ? str((n.fields as Node[] | undefined)?.at(-1)) : '';
    if (last) found.add(last);
    if (key === 'Constraint') for (const k of (n.keys as Node[] | undefined) ?? []) found.add(str(k));
  });
  return [...found];
}
