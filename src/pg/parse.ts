import { loadModule, parse, type AlterTableCmd, type ColumnDef, type Constraint, type Node, type RangeVar } from 'libpg-query';
import { FerryError } from '../contract/errors';

/**
 * What a DDL statement does to the tables it names, read by PostgreSQL's own parser (libpg-query,
 * the server's grammar compiled to WebAssembly): the lock each statement takes, whether it
 * rewrites or scans the table, whether it must run outside a transaction block, and the forms a
 * careful DBA does not run on a table with rows (`Hazard`; `src/ddl/checks.ts` decides them
 * against the catalog). Nothing here touches a database, and no SQL is matched with a regular
 * expression. Lock modes are those of PostgreSQL's documentation ("Explicit Locking", and the
 * page of each statement: ALTER TABLE names the lock of each subcommand).
 */

/** PostgreSQL's table lock modes, weakest first. */
export const LOCK_MODES = [
  'ACCESS SHARE',
  'ROW SHARE',
  'ROW EXCLUSIVE',
  'SHARE UPDATE EXCLUSIVE',
  'SHARE',
  'SHARE ROW EXCLUSIVE',
  'EXCLUSIVE',
  'ACCESS EXCLUSIVE',
] as const;
export type LockMode = (typeof LOCK_MODES)[number];

/** What a statement does to a table's rows: nothing (catalog only), reads them all, or writes a new copy. */
export type Touch = 'none' | 'scan' | 'rewrite';

/** A table (or index) as written in the statement; `schema` absent means the search_path decides. */
export interface Relation {
  schema?: string;
  name: string;
}

/** The checks a definition can override with `unsafe: [{ check, reason }]`. */
export const CHECKS = [
  'index-not-concurrent',
  'constraint-not-valid',
  'set-not-null',
  'column-type-rewrite',
  'volatile-default',
  'vacuum-full',
  'cluster',
  'lock-table',
  'truncate',
] as const;
export type CheckName = (typeof CHECKS)[number];

/**
 * A dangerous form in a statement. Whether it is dangerous here depends on the catalog (the table
 * has rows; a validated CHECK exists; the type change is binary coercible): `src/ddl/checks.ts`.
 */
export interface Hazard {
  check: CheckName;
  table: Relation;
  column?: string;
  /** `column-type-rewrite`: the new type's qualified name, its typmods, whether it is an array, and a USING. */
  type?: { names: string[]; typmods: number[] | null; array: boolean; using: boolean };
  /** `volatile-default`: functions called by the default (checked for volatility), or why it always rewrites. */
  functions?: string[][];
  always?: string;
}

/** A lock a statement takes on one table. */
export interface TableLock {
  table: Relation;
  mode: LockMode;
  touch: Touch;
  /** ALTER COLUMN TYPE: what it touches when every type change turns out binary coercible (the catalog decides). */
  ifBinaryCoercible?: Touch;
}

/** One entry of `expand.up` / `contract.up` / `expand.down` as PostgreSQL reads it. */
export interface StatementInfo {
  text: string;
  /** What it is, e.g. `CREATE INDEX CONCURRENTLY`, `ALTER TABLE (ADD COLUMN, SET NOT NULL)`. */
  kind: string;
  /** Locks on tables, strongest first; an index's table is looked up in the catalog (`index`). */
  locks: TableLock[];
  /** PostgreSQL refuses it inside a transaction block (CONCURRENTLY, VACUUM). */
  outsideTransaction: boolean;
  /** Long and non-blocking (a concurrent index build, VALIDATE CONSTRAINT): runs alone, no statement_timeout. */
  long: boolean;
  /** CREATE INDEX: its name (idempotency, recovery of an INVALID build). DROP INDEX: the index dropped. */
  index?: Relation & { create: boolean; concurrent: boolean; table?: Relation };
  /** ALTER TABLE ... ADD CONSTRAINT: the constraints it adds by name, and the CHECKs' IS NOT NULL columns. */
  adds?: { table: Relation; constraints: { name?: string; notNull?: string; valid: boolean }[]; only: boolean };
  /** ALTER TABLE ... VALIDATE CONSTRAINT names. */
  validates?: { table: Relation; names: string[] };
  hazards: Hazard[];
}

let loaded: Promise<void> | undefined;

/**
 * Reads each statement with PostgreSQL's parser. An entry may hold several statements separated
 * by `;`; a form that must run outside a transaction must be alone in its entry.
 * @example (await analyzeStatements(['CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON posts (a)']))[0].locks[0].mode // 'SHARE UPDATE EXCLUSIVE'
 * @throws FerryError INVALID_DEFINITION naming the field and the parser's message.
 */
export async function analyzeStatements(statements: string[], field = 'statement'): Promise<StatementInfo[]> {
  loaded ??= loadModule();
  await loaded;
  const out: StatementInfo[] = [];
  for (const [i, text] of statements.entries()) {
    const where = statements.length > 1 ? `${field}[${i}]` : field;
    const result = await parse(text).catch((err: Error) => {
      throw new FerryError('INVALID_DEFINITION', `${where} is not valid SQL: ${err.message}; fix the statement.`);
    });
    const parts = (result.stmts ?? []).map((s) => describeNode(s.stmt));
    out.push(merge(text, parts, where));
  }
  return out;
}

/**
 * Whether PostgreSQL refuses the statement inside a transaction block, by its parse tree.
 * @example await needsOwnSession('CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a)') // true
 */
export async function needsOwnSession(statement: string): Promise<boolean> {
  return (await analyzeStatements([statement]))[0].outsideTransaction;
}

type Part = Omit<StatementInfo, 'text'>;

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

const rel = (r: RangeVar | undefined): Relation => ({ ...(r?.schemaname ? { schema: r.schemaname } : {}), name: r?.relname ?? '?' });
const part = (kind: string, extra: Partial<Part> = {}): Part => ({
  kind,
  locks: [],
  outsideTransaction: false,
  long: false,
  hazards: [],
  ...extra,
});
const lock = (table: Relation, mode: LockMode, touch: Touch = 'none'): TableLock => ({ table, mode, touch });
const str = (n: Node | undefined): string => (n as { String?: { sval?: string } } | undefined)?.String?.sval ?? '';
const names = (list: Node[] | undefined): string[] => (list ?? []).map(str);

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
    hazards: concurrent ? [] : [{ check: 'index-not-concurrent', table }],
  });
}

/** DROP INDEX takes ACCESS EXCLUSIVE on its table (CONCURRENTLY: SHARE UPDATE EXCLUSIVE); DROP TABLE ACCESS EXCLUSIVE. */
function drop(n: { objects?: Node[]; removeType?: string; concurrent?: boolean }): Part {
  const objects = (n.objects ?? []).map((o) => names((o as { List?: { items?: Node[] } }).List?.items));
  const relation = (parts: string[]): Relation =>
    parts.length > 1 ? { schema: parts[parts.length - 2], name: parts[parts.length - 1] } : { name: parts[0] ?? '?' };
  const concurrent = n.concurrent === true;
  if (n.removeType === 'OBJECT_INDEX') {
    const index = objects[0] ? relation(objects[0]) : { name: '?' };
    return part(`DROP INDEX${concurrent ? ' CONCURRENTLY' : ''}`, {
      outsideTransaction: concurrent,
      long: concurrent,
      index: { ...index, create: false, concurrent },
    });
  }
  if (n.removeType === 'OBJECT_TABLE') return part('DROP TABLE', { locks: objects.map((o) => lock(relation(o), 'ACCESS EXCLUSIVE')) });
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

/** A subcommand of ALTER TABLE: its lock, what it does to the rows, its hazards. */
interface Sub {
  name: string;
  mode: LockMode;
  touch: Touch;
  hazards?: Hazard[];
  others?: TableLock[];
  constraint?: { name?: string; notNull?: string; valid: boolean };
  validates?: string;
}

/** ALTER TABLE: the strongest lock of its subcommands (PostgreSQL takes the strongest one). */
function alterTable(n: { relation?: RangeVar; cmds?: Node[] }): Part {
  const table = rel(n.relation);
  const subs = (n.cmds ?? []).map((c) => alterSub(table, (c as { AlterTableCmd?: AlterTableCmd }).AlterTableCmd ?? {}));
  const mode = subs.map((s) => s.mode).reduce(stronger, 'ACCESS SHARE');
  const touch = strongestTouch(subs);
  const others = subs.filter((s) => s.name !== 'ALTER COLUMN TYPE');
  const binary = others.length < subs.length ? { ifBinaryCoercible: strongestTouch(others) } : {};
  const constraints = subs.flatMap((s) => (s.constraint ? [s.constraint] : []));
  const validates = subs.flatMap((s) => (s.validates ? [s.validates] : []));
  const long = subs.length > 0 && subs.every((s) => s.validates !== undefined);
  return part(`ALTER TABLE (${subs.map((s) => s.name).join(', ')})`, {
    locks: strongestFirst([{ ...lock(table, mode, touch), ...binary }, ...subs.flatMap((s) => s.others ?? [])]),
    long,
    hazards: subs.flatMap((s) => s.hazards ?? []),
    ...(constraints.length && { adds: { table, constraints, only: subs.every((s) => s.constraint?.name !== undefined) } }),
    ...(validates.length && { validates: { table, names: validates } }),
  });
}

const SHARE_UPDATE_SUBS = new Set([
  'AT_SetStatistics',
  'AT_ClusterOn',
  'AT_DropCluster',
  'AT_SetRelOptions',
  'AT_ResetRelOptions',
  'AT_AttachPartition',
]);
const SHARE_ROW_SUBS = new Set([
  'AT_EnableTrig',
  'AT_EnableAlwaysTrig',
  'AT_EnableReplicaTrig',
  'AT_DisableTrig',
  'AT_EnableTrigAll',
  'AT_DisableTrigAll',
  'AT_EnableTrigUser',
  'AT_DisableTrigUser',
]);

function alterSub(table: Relation, cmd: AlterTableCmd): Sub {
  const sub = cmd.subtype ?? 'AT_Unknown';
  const name = SUB_NAMES[sub] ?? words(sub.replace(/^AT_/, ''));
  switch (sub) {
    case 'AT_AddColumn':
      return addColumn(table, (cmd.def as { ColumnDef?: ColumnDef }).ColumnDef ?? {});
    case 'AT_AlterColumnType':
      return alterType(table, cmd.name ?? '?', (cmd.def as { ColumnDef?: ColumnDef }).ColumnDef ?? {});
    case 'AT_SetNotNull':
      return {
        name: 'SET NOT NULL',
        mode: 'ACCESS EXCLUSIVE',
        touch: 'scan',
        hazards: [{ check: 'set-not-null', table, column: cmd.name }],
      };
    case 'AT_AddConstraint':
      return addConstraint(table, (cmd.def as { Constraint?: Constraint }).Constraint ?? {});
    case 'AT_ValidateConstraint':
      return { name: 'VALIDATE CONSTRAINT', mode: 'SHARE UPDATE EXCLUSIVE', touch: 'scan', validates: cmd.name };
    case 'AT_SetLogged':
    case 'AT_SetUnLogged':
    case 'AT_SetAccessMethod':
    case 'AT_SetTableSpace':
      return { name, mode: 'ACCESS EXCLUSIVE', touch: 'rewrite' };
    case 'AT_DetachPartition':
      return { name, mode: 'ACCESS EXCLUSIVE', touch: 'none' };
    default:
      if (SHARE_UPDATE_SUBS.has(sub))
        return { name, mode: 'SHARE UPDATE EXCLUSIVE', touch: sub === 'AT_AttachPartition' ? 'scan' : 'none' };
      if (SHARE_ROW_SUBS.has(sub)) return { name, mode: 'SHARE ROW EXCLUSIVE', touch: 'none' };
      return { name, mode: 'ACCESS EXCLUSIVE', touch: 'none' }; // the documented default of ALTER TABLE
  }
}

/** Subcommand names as ALTER TABLE spells them, where the parser's enum does not say it plainly. */
const SUB_NAMES: Record<string, string> = {
  AT_ColumnDefault: 'SET/DROP DEFAULT',
  AT_AddIndexConstraint: 'ADD CONSTRAINT USING INDEX',
  AT_SetRelOptions: 'SET (storage parameters)',
  AT_ResetRelOptions: 'RESET (storage parameters)',
};

/** `DropNotNull` → `DROP NOT NULL` (the parser's enum names, not SQL). */
function words(camel: string): string {
  return camel.replace(/([a-z])([A-Z])/g, '$1 $2').toUpperCase();
}

const SERIAL_TYPES = new Set(['serial', 'serial4', 'bigserial', 'serial8', 'smallserial', 'serial2']);

/** ADD COLUMN: catalog only, unless its default is volatile (a rewrite) or it is an identity, serial or stored generated column. */
function addColumn(table: Relation, def: ColumnDef): Sub {
  const constraints = (def.constraints ?? []).map((c) => (c as { Constraint?: Constraint }).Constraint ?? {});
  const typeName = names(def.typeName?.names);
  const always = SERIAL_TYPES.has(typeName[typeName.length - 1])
    ? `a ${typeName[typeName.length - 1]} column takes nextval() for every row`
    : constraints.some((c) => c.contype === 'CONSTR_IDENTITY')
      ? 'an identity column takes a value from its sequence for every row'
      : constraints.some((c) => c.contype === 'CONSTR_GENERATED')
        ? 'a stored generated column is computed for every row'
        : undefined;
  const fallback = constraints.find((c) => c.contype === 'CONSTR_DEFAULT')?.raw_expr;
  const functions = fallback ? functionCalls(fallback) : [];
  const checks = constraints.some((c) => c.contype === 'CONSTR_CHECK' || c.contype === 'CONSTR_FOREIGN');
  const hazards: Hazard[] =
    always || functions.length ? [{ check: 'volatile-default', table, column: def.colname, functions, ...(always && { always }) }] : [];
  return { name: 'ADD COLUMN', mode: 'ACCESS EXCLUSIVE', touch: always ? 'rewrite' : checks ? 'scan' : 'none', hazards };
}

/** Every function called in an expression, as its qualified name. */
function functionCalls(expr: unknown): string[][] {
  const found: string[][] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      const call = (v as { FuncCall?: { funcname?: Node[] } }).FuncCall;
      if (call) found.push(names(call.funcname));
      Object.values(v).forEach(walk);
    }
  };
  walk(expr);
  return found;
}

/** ALTER COLUMN TYPE: ACCESS EXCLUSIVE; a rewrite unless binary coercible (decided against the catalog). */
function alterType(table: Relation, column: string, def: ColumnDef): Sub {
  const t = def.typeName ?? {};
  const typmods = (t.typmods ?? []).map((m) => (m as { A_Const?: { ival?: { ival?: number } } }).A_Const?.ival?.ival);
  const type = {
    names: names(t.names),
    typmods: typmods.every((m) => typeof m === 'number') ? (typmods as number[]) : null,
    array: (t.arrayBounds ?? []).length > 0,
    using: def.raw_default !== undefined,
  };
  return {
    name: 'ALTER COLUMN TYPE',
    mode: 'ACCESS EXCLUSIVE',
    touch: 'rewrite',
    hazards: [{ check: 'column-type-rewrite', table, column, type }],
  };
}

/** ADD CONSTRAINT: CHECK takes ACCESS EXCLUSIVE, a FOREIGN KEY SHARE ROW EXCLUSIVE on both tables; both scan unless NOT VALID. */
function addConstraint(table: Relation, c: Constraint): Sub {
  const valid = c.skip_validation !== true;
  const notNull = c.contype === 'CONSTR_CHECK' ? notNullColumn(c.raw_expr) : undefined;
  const constraint = { ...(c.conname && { name: c.conname }), ...(notNull && { notNull }), valid };
  const hazards: Hazard[] = valid ? [{ check: 'constraint-not-valid', table }] : [];
  if (c.contype === 'CONSTR_FOREIGN') {
    const other = lock(rel(c.pktable), 'SHARE ROW EXCLUSIVE', valid ? 'scan' : 'none');
    return {
      name: `ADD FOREIGN KEY${valid ? '' : ' NOT VALID'}`,
      mode: 'SHARE ROW EXCLUSIVE',
      touch: valid ? 'scan' : 'none',
      hazards,
      others: [other],
      constraint,
    };
  }
  if (c.contype === 'CONSTR_CHECK') {
    return { name: `ADD CHECK${valid ? '' : ' NOT VALID'}`, mode: 'ACCESS EXCLUSIVE', touch: valid ? 'scan' : 'none', hazards, constraint };
  }
  const index = c.indexname !== undefined; // ADD ... USING INDEX: the index exists already
  const builds = !index && ['CONSTR_PRIMARY', 'CONSTR_UNIQUE', 'CONSTR_EXCLUSION'].includes(c.contype ?? '');
  return {
    name: `ADD ${(c.contype ?? '').replace(/^CONSTR_/, '')}${index ? ' USING INDEX' : ''}`,
    mode: 'ACCESS EXCLUSIVE',
    touch: index ? 'none' : 'scan',
    constraint,
    hazards: builds ? [{ check: 'index-not-concurrent', table }] : [],
  };
}

/**
 * The column a CHECK proves NOT NULL: `CHECK (col IS NOT NULL)`, alone or as one term of an AND,
 * which PostgreSQL (12+) accepts in place of the scan of SET NOT NULL once it is validated.
 * @example notNullColumn(parsedExpr('a IS NOT NULL AND b > 0')) // 'a'
 */
export function notNullColumn(expr: unknown): string | undefined {
  const e = expr as {
    NullTest?: { arg?: { ColumnRef?: { fields?: Node[] } }; nulltesttype?: string };
    BoolExpr?: { boolop?: string; args?: unknown[] };
  };
  if (e?.NullTest?.nulltesttype === 'IS_NOT_NULL') {
    const fields = names(e.NullTest.arg?.ColumnRef?.fields);
    return fields.length === 1 ? fields[0] : undefined;
  }
  if (e?.BoolExpr?.boolop === 'AND_EXPR') return e.BoolExpr.args?.map(notNullColumn).find((c) => c !== undefined);
  return undefined;
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
  loaded ??= loadModule();
  await loaded;
  const tree = await parse(`ALTER TABLE t ADD ${def}`).catch(() => undefined);
  const stmt = tree?.stmts?.[0]?.stmt as { AlterTableStmt?: { cmds?: Node[] } } | undefined;
  const cmd = (stmt?.AlterTableStmt?.cmds?.[0] as { AlterTableCmd?: AlterTableCmd } | undefined)?.AlterTableCmd;
  return notNullColumn((cmd?.def as { Constraint?: Constraint } | undefined)?.Constraint?.raw_expr);
}

function strongestTouch(subs: { touch: Touch }[]): Touch {
  return subs.some((s) => s.touch === 'rewrite') ? 'rewrite' : subs.some((s) => s.touch === 'scan') ? 'scan' : 'none';
}

function stronger(a: LockMode, b: LockMode): LockMode {
  return LOCK_MODES.indexOf(a) >= LOCK_MODES.indexOf(b) ? a : b;
}

function strongestFirst(locks: TableLock[]): TableLock[] {
  return [...locks].sort((a, b) => LOCK_MODES.indexOf(b.mode) - LOCK_MODES.indexOf(a.mode));
}
