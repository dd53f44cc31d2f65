import type { Node, RangeVar } from 'libpg-query';

/**
 * The vocabulary of the DDL reader (`src/pg/parse.ts`): lock modes, what a statement touches,
 * the checks, and the small helpers that read libpg-query's nodes.
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
  /** CREATE INDEX without a name: refused (a crash would build it twice; an INVALID one could not be found). */
  unnamedIndex?: boolean;
}

/** A statement's description before its text is attached. */
export type Part = Omit<StatementInfo, 'text'>;

export const rel = (r: RangeVar | undefined): Relation => ({ ...(r?.schemaname ? { schema: r.schemaname } : {}), name: r?.relname ?? '?' });
export const part = (kind: string, extra: Partial<Part> = {}): Part => ({
  kind,
  locks: [],
  outsideTransaction: false,
  long: false,
  hazards: [],
  ...extra,
});
export const lock = (table: Relation, mode: LockMode, touch: Touch = 'none'): TableLock => ({ table, mode, touch });
export const str = (n: unknown): string => (n as { String?: { sval?: string } } | undefined)?.String?.sval ?? '';
export const names = (list: Node[] | undefined): string[] => (list ?? []).map(str);

export function strongestTouch(subs: { touch: Touch }[]): Touch {
  return subs.some((s) => s.touch === 'rewrite') ? 'rewrite' : subs.some((s) => s.touch === 'scan') ? 'scan' : 'none';
}

export function stronger(a: LockMode, b: LockMode): LockMode {
  return LOCK_MODES.indexOf(a) >= LOCK_MODES.indexOf(b) ? a : b;
}

export function strongestFirst(locks: TableLock[]): TableLock[] {
  return [...locks].sort((a, b) => LOCK_MODES.indexOf(b.mode) - LOCK_MODES.indexOf(a.mode));
}

/**
 * Visits every object of a parse tree depth first, parents before children, with the key it sits
 * under: a node's type (`ColumnRef`, `FuncCall`) or a field name.
 * @example walkTree(tree, (node, key) => key === 'ColumnRef' && refs.push(node))
 */
export function walkTree(tree: unknown, visit: (node: Record<string, unknown>, key: string | undefined) => void, key?: string): void {
  if (Array.isArray(tree)) return tree.forEach((n) => walkTree(n, visit));
  if (!tree || typeof tree !== 'object') return;
  const node = tree as Record<string, unknown>;
  visit(node, key);
  for (const [k, v] of Object.entries(node)) walkTree(v, visit, k);
}
