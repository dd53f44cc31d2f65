import type { AlterTableCmd, ColumnDef, Constraint, Node, RangeVar } from 'libpg-query';
import { lock, names, part, rel, stronger, strongestFirst, strongestTouch, walkTree } from './parse-nodes';
import type { Hazard, LockMode, Part, Relation, TableLock, Touch } from './parse-nodes';

/**
 * ALTER TABLE as PostgreSQL's documentation describes it: the lock of each subcommand (the
 * statement takes the strongest), what it does to the rows, and its dangerous forms.
 */

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
export function alterTable(n: { relation?: RangeVar; cmds?: Node[] }): Part {
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
  walkTree(expr, (node, key) => {
    if (key === 'FuncCall') found.push(names(node.funcname as Node[] | undefined));
  });
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
