import { loadModule, parse, type AlterTableCmd, type Constraint, type Node, type RangeVar } from 'libpg-query';
import { FerryError } from '../contract/errors';
import { alterTable, notNullColumn } from './parse-alter';
import { LOCK_MODES, lock, names, part, rel, strongestFirst } from './parse-nodes';
import type { CheckName, Part, Relation, StatementInfo } from './parse-nodes';

export * from './parse-nodes';
export { notNullColumn } from './parse-alter';

/**
 * What a DDL statement does to the tables it names, read by PostgreSQL's own parser (libpg-query,
 * the server's grammar compiled to WebAssembly): the lock each statement takes, whether it
 * rewrites or scans the table, whether it must run outside a transaction block, and the forms a
 * careful DBA does not run on a table with rows (`Hazard`; `src/ddl/checks.ts` decides them
 * against the catalog). Nothing here touches a database, and no SQL is matched with a regular
 * expression. Lock modes are those of PostgreSQL's documentation ("Explicit Locking", and the
 * page of each statement: ALTER TABLE names the lock of each subcommand).
 */

let loaded: Promise<void> | undefined;

/**
 * The parse tree of each statement in `sql`, by PostgreSQL's parser (its WebAssembly module is
 * loaded once): the one place ferry parses SQL.
 * @example (await parseStatements('ALTER TABLE posts DROP COLUMN a'))[0] // { AlterTableStmt: { relation: …, cmds: […] } }
 * @throws the parser's Error when `sql` is not valid SQL.
 */
export async function parseStatements(sql: string): Promise<Node[]> {
  loaded ??= loadModule();
  await loaded;
  return ((await parse(sql)).stmts ?? []).map((s) => s.stmt ?? ({} as Node));
}

/**
 * Reads each statement with PostgreSQL's parser. An entry may hold several statements separated
 * by `;`; a form that must run outside a transaction must be alone in its entry.
 * @example (await analyzeStatements(['CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON posts (a)']))[0].locks[0].mode // 'SHARE UPDATE EXCLUSIVE'
 * @throws FerryError INVALID_DEFINITION naming the field and the parser's message.
 */
export async function analyzeStatements(statements: string[], field = 'statement'): Promise<StatementInfo[]> {
  const out: StatementInfo[] = [];
  for (const [i, text] of statements.entries()) {
    const where = statements.length > 1 ? `${field}[${i}]` : field;
    const trees = await parseStatements(text).catch((err: Error) => {
      throw new FerryError('INVALID_DEFINITION', `${where} is not valid SQL: ${err.message}; fix the statement.`);
    });
    const parts = trees.map(describeNode);
    const info = merge(text, parts, where);
    if (parts.some((p) => p.unnamedIndex)) {
      throw new FerryError(
        'INVALID_DEFINITION',
        `${where} creates an index without a name: run again after a crash it would build a second one, and an INVALID one ` +
          'could not be found; name it: CREATE INDEX CONCURRENTLY IF NOT EXISTS <name> ON ...',
      );
    }
    out.push(info);
  }
  return out;
}

/**
 * The tables and columns `sql` drops (DROP TABLE, ALTER TABLE … DROP COLUMN), in order; nothing
 * when it does not parse.
 * @example await droppedBy('ALTER TABLE app.posts DROP COLUMN a') // [{ table: { schema: 'app', name: 'posts' }, column: 'a' }]
 */
export async function droppedBy(sql: string): Promise<{ table: Relation; column?: string }[]> {
  const trees = (await parseStatements(sql).catch((): Node[] => [])) as {
    DropStmt?: { objects?: Node[]; removeType?: string };
    AlterTableStmt?: { relation?: RangeVar; cmds?: { AlterTableCmd?: AlterTableCmd }[] };
  }[];
  return trees.flatMap(({ DropStmt: drops, AlterTableStmt: alter }) => {
    if (drops?.removeType === 'OBJECT_TABLE') return dropped(drops).map((table) => ({ table }));
    const cmds = (alter?.cmds ?? []).flatMap((c) => (c.AlterTableCmd?.subtype === 'AT_DropColumn' ? [c.AlterTableCmd] : []));
    return cmds.map((c) => ({ table: rel(alter?.relation), column: c.name ?? '?' }));
  });
}

/**
 * Whether PostgreSQL refuses the statement inside a transaction block, by its parse tree.
 * @example await needsOwnSession('CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a)') // true
 */
export async function needsOwnSession(statement: string): Promise<boolean> {
  return (await analyzeStatements([statement]))[0].outsideTransaction;
}

function merge(text: string, parts: Part[], where: string): StatementInfo {
  const outside = parts.some((p) => p.outsideTransaction || p.long);
  if (outside && parts.length > 1) {
    throw new FerryError(
      'INVALID_DEFINITION',
      `${where} holds ${parts.length} statements, one of them ${parts.find((p) => p.outsideTransaction || p.long)?.kind}, ` +
        'which runs outside a transaction; give it its own entry in the list.',
    );
  }
  if (parts.length === 1) return { text, ...parts[0] };
  return {
    text,
    kind: parts.map((p) => p.kind).join('; '),
    locks: strongestFirst(parts.flatMap((p) => p.locks)),
    outsideTransaction: false,
    long: false,
    hazards: parts.flatMap((p) => p.hazards),
  };
}

/** Each statement kind ferry knows; any other statement is described by its node name and takes no table lock ferry can name. */
function describeNode(node: Node | undefined): Part {
  const [key, body] = Object.entries(node ?? {})[0] ?? ['(empty)', {}];
  const describe = DESCRIBERS[key];
  return describe ? describe(body) : part(key.replace(/Stmt$/, '').toUpperCase());
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each describer reads its own node type
const DESCRIBERS: Record<string, (n: any) => Part> = {
  IndexStmt: createIndex,
  DropStmt: drop,
  AlterTableStmt: alterTable,
  VacuumStmt: vacuum,
  ClusterStmt: (n) =>
    withHazard(part('CLUSTER', { locks: n.relation ? [lock(rel(n.relation), 'ACCESS EXCLUSIVE', 'rewrite')] : [] }), 'cluster'),
  TruncateStmt: (n) => {
    const tables = (n.relations ?? []).map((r: Node) => rel((r as { RangeVar?: RangeVar }).RangeVar));
    return withHazard(part('TRUNCATE', { locks: tables.map((t: Relation) => lock(t, 'ACCESS EXCLUSIVE', 'rewrite')) }), 'truncate');
  },
  LockStmt: (n) => {
    const mode = LOCK_MODES[(n.mode ?? 8) - 1] ?? 'ACCESS EXCLUSIVE';
    const tables = (n.relations ?? []).map((r: Node) => rel((r as { RangeVar?: RangeVar }).RangeVar));
    return withHazard(part(`LOCK TABLE IN ${mode} MODE`, { locks: tables.map((t: Relation) => lock(t, mode)) }), 'lock-table');
  },
  RenameStmt: (n) => part('RENAME', { locks: n.relation ? [lock(rel(n.relation), 'ACCESS EXCLUSIVE')] : [] }),
  CreateTrigStmt: (n) => part('CREATE TRIGGER', { locks: [lock(rel(n.relation), 'SHARE ROW EXCLUSIVE')] }),
  CommentStmt: () => part('COMMENT'),
  CreateStmt: () => part('CREATE TABLE'),
  ReindexStmt: (n) => {
    const concurrent = hasOption(n.params, 'concurrently');
    const table =
      n.kind === 'REINDEX_OBJECT_TABLE' && n.relation
        ? [lock(rel(n.relation), concurrent ? 'SHARE UPDATE EXCLUSIVE' : 'SHARE', 'scan')]
        : [];
    return part(`REINDEX${concurrent ? ' CONCURRENTLY' : ''}`, { locks: table, outsideTransaction: concurrent, long: concurrent });
  },
  UpdateStmt: (n) => part('UPDATE', { locks: [lock(rel(n.relation), 'ROW EXCLUSIVE', 'scan')] }),
  DeleteStmt: (n) => part('DELETE', { locks: [lock(rel(n.relation), 'ROW EXCLUSIVE', 'scan')] }),
  InsertStmt: (n) => part('INSERT', { locks: [lock(rel(n.relation), 'ROW EXCLUSIVE')] }),
  SelectStmt: () => part('SELECT'),
};

function withHazard(p: Part, check: CheckName): Part {
  return { ...p, hazards: p.locks.map((l) => ({ check, table: l.table })) };
}

function hasOption(params: Node[] | undefined, name: string): boolean {
  return (params ?? []).some((p) => (p as { DefElem?: { defname?: string } }).DefElem?.defname === name);
}

/** CREATE INDEX: SHARE (blocks writes for the whole build); CONCURRENTLY: SHARE UPDATE EXCLUSIVE, outside a transaction. */
function createIndex(n: { idxname?: string; relation?: RangeVar; concurrent?: boolean; unique?: boolean }): Part {
  const table = rel(n.relation);
  const concurrent = n.concurrent === true;
  const kind = `CREATE${n.unique ? ' UNIQUE' : ''} INDEX${concurrent ? ' CONCURRENTLY' : ''}`;
  return part(kind, {
    locks: [lock(table, concurrent ? 'SHARE UPDATE EXCLUSIVE' : 'SHARE', 'scan')],
    outsideTransaction: concurrent,
    long: concurrent,
    ...(n.idxname && { index: { ...(table.schema ? { schema: table.schema } : {}), name: n.idxname, create: true, concurrent, table } }),
    ...(!n.idxname && { unnamedIndex: true }),
    hazards: concurrent ? [] : [{ check: 'index-not-concurrent', table }],
  });
}

/** The relations a DROP statement names. */
function dropped(n: { objects?: Node[] }): Relation[] {
  const objects = (n.objects ?? []).map((o) => names((o as { List?: { items?: Node[] } }).List?.items));
  return objects.map((parts) =>
    parts.length > 1 ? { schema: parts[parts.length - 2], name: parts[parts.length - 1] } : { name: parts[0] ?? '?' },
  );
}

/** DROP INDEX takes ACCESS EXCLUSIVE on its table (CONCURRENTLY: SHARE UPDATE EXCLUSIVE); DROP TABLE ACCESS EXCLUSIVE. */
function drop(n: { objects?: Node[]; removeType?: string; concurrent?: boolean }): Part {
  const objects = dropped(n);
  const concurrent = n.concurrent === true;
  if (n.removeType === 'OBJECT_INDEX') {
    const index = objects[0] ?? { name: '?' };
    return part(`DROP INDEX${concurrent ? ' CONCURRENTLY' : ''}`, {
      outsideTransaction: concurrent,
      long: concurrent,
      index: { ...index, create: false, concurrent },
    });
  }
  if (n.removeType === 'OBJECT_TABLE') return part('DROP TABLE', { locks: objects.map((o) => lock(o, 'ACCESS EXCLUSIVE')) });
  return part(`DROP ${(n.removeType ?? '').replace(/^OBJECT_/, '')}`);
}

/** VACUUM: SHARE UPDATE EXCLUSIVE and a scan, outside a transaction; VACUUM FULL: ACCESS EXCLUSIVE and a rewrite. */
function vacuum(n: { options?: Node[]; rels?: Node[]; is_vacuumcmd?: boolean }): Part {
  const tables = (n.rels ?? []).map((r) => rel((r as { VacuumRelation?: { relation?: RangeVar } }).VacuumRelation?.relation));
  if (!n.is_vacuumcmd) return part('ANALYZE', { locks: tables.map((t) => lock(t, 'SHARE UPDATE EXCLUSIVE', 'scan')) });
  const full = hasOption(n.options, 'full');
  const p = part(full ? 'VACUUM FULL' : 'VACUUM', {
    locks: tables.map((t) => (full ? lock(t, 'ACCESS EXCLUSIVE', 'rewrite') : lock(t, 'SHARE UPDATE EXCLUSIVE', 'scan'))),
    outsideTransaction: true,
  });
  return full ? withHazard(p, 'vacuum-full') : p;
}
/** The column each `CHECK (...)` constraint definition proves NOT NULL (`pg_get_constraintdef` text), parsed. */
export async function notNullColumnsOf(definitions: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const def of definitions) {
    const parsed = await analyzeConstraint(def);
    if (parsed) out.push(parsed);
  }
  return out;
}

async function analyzeConstraint(def: string): Promise<string | undefined> {
  const trees = await parseStatements(`ALTER TABLE t ADD ${def}`).catch(() => undefined);
  const stmt = trees?.[0] as { AlterTableStmt?: { cmds?: Node[] } } | undefined;
  const cmd = (stmt?.AlterTableStmt?.cmds?.[0] as { AlterTableCmd?: AlterTableCmd } | undefined)?.AlterTableCmd;
  return notNullColumn((cmd?.def as { Constraint?: Constraint } | undefined)?.Constraint?.raw_expr);
}
