/**
 * Places the schema builder's changes in a ferry migration: additive ones in expand (indexes
 * `CONCURRENTLY`), destructive ones in contract, and a renamed column or a column whose type
 * changed — which TypeORM writes as DROP + ADD, losing the data (typeorm#3357) — as a new column,
 * a trigger that keeps both shapes written, a backfill (`set`), a verify and a contract. What has
 * no safe form is returned in `unsafe`, never guessed.
 */
import { quoteIdent } from '../pg/quote';
import type { Change, TableRef } from './diff';

/** `--rename users.full_name:display_name`: a column that TypeORM drops and adds under a new name. */
export interface Rename {
  table: TableRef;
  from: string;
  to: string;
}

/** What the database says of a column before the change. */
export interface OldColumn {
  type: string;
  notNull: boolean;
}

/** A column whose data moves: renamed (`to` is the new name) or retyped (`to` is a temporary column). */
interface Move {
  kind: 'rename' | 'retype';
  from: string;
  to: string;
  /** The new column as the entity wants it. */
  add: Extract<Change, { kind: 'add-column' }>;
  /** The value of the new column from the old one (with a cast when the type changes). */
  value: string;
  /** The value of the old column from the new one (renames only: old code keeps writing the old column). */
  back?: string;
}

/** The parts of the migration. */
export interface PlannedMigration {
  table: TableRef;
  expandUp: string[];
  expandDown: string[];
  trigger: string;
  where: string;
  set: string;
  verify?: string;
  contractUp: string[];
  /** Lines for the reviewer (casts to check, slow statements). */
  review: string[];
  unsafe: { sql: string; why: string }[];
}

/** `"schema"."name"`, or `"name"` when the statements left it unqualified. */
export const tableSql = (t: TableRef) => (t.schema ? `${quoteIdent(t.schema)}.${quoteIdent(t.name)}` : quoteIdent(t.name));
const sameTable = (a: TableRef, b: TableRef) => a.name === b.name && (a.schema ?? 'public') === (b.schema ?? 'public');
const q = quoteIdent;

/** Pairs the drops and adds of the same table: renames (as asked) and type changes (same name). */
function findMoves(changes: Change[], renames: Rename[], old: (t: TableRef, c: string) => OldColumn | undefined) {
  const moves: { table: TableRef; move: Move; used: Change[] }[] = [];
  const adds = changes.filter((c): c is Extract<Change, { kind: 'add-column' }> => c.kind === 'add-column');
  for (const drop of changes) {
    if (drop.kind !== 'drop-column') continue;
    const rename = renames.find((r) => sameTable(r.table, drop.table) && r.from === drop.column);
    const target = rename?.to ?? drop.column;
    const add = adds.find((a) => sameTable(a.table, drop.table) && a.column === target);
    if (!add) continue;
    const before = old(drop.table, drop.column);
    const cast = before && before.type === add.type ? '' : `::${add.type}`;
    const kind = rename ? 'rename' : 'retype';
    const to = rename ? add.column : `${drop.column}__${add.type.replace(/[^a-z0-9]+/gi, '_').toLowerCase()}`;
    const backCast = cast && before ? `::${before.type}` : '';
    moves.push({
      table: drop.table,
      move: { kind, from: drop.column, to, add, value: `${q(drop.column)}${cast}`, ...(rename ? { back: `${q(to)}${backCast}` } : {}) },
      used: [drop, add],
    });
  }
  return moves;
}

/** The trigger body: new rows and updates write both shapes, whichever the code wrote. */
function triggerBody(moves: Move[]): string {
  const value = (m: Move) => m.value.replace(/^"/, 'NEW."');
  const renames = moves.filter((m) => m.kind === 'rename');
  const lines: string[] = [];
  if (renames.length) {
    lines.push("IF TG_OP = 'INSERT' THEN");
    for (const m of renames) {
      lines.push(`  NEW.${q(m.to)} := COALESCE(NEW.${q(m.to)}, ${value(m)});`);
      lines.push(`  NEW.${q(m.from)} := COALESCE(NEW.${q(m.from)}, NEW.${m.back!});`);
    }
    lines.push('ELSE');
    for (const m of renames) {
      lines.push(`  IF NEW.${q(m.to)} IS DISTINCT FROM OLD.${q(m.to)} THEN NEW.${q(m.from)} := NEW.${m.back!};`);
      lines.push(`  ELSE NEW.${q(m.to)} := ${value(m)}; END IF;`);
    }
    lines.push('END IF;');
  }
  for (const m of moves.filter((x) => x.kind === 'retype')) lines.push(`NEW.${q(m.to)} := ${value(m)};`);
  return lines.join('\n');
}

/** A NOT NULL without a long ACCESS EXCLUSIVE lock: a CHECK added NOT VALID, validated, then SET NOT NULL. */
function notNullSteps(table: string, name: string, column: string): string[] {
  const check = q(`${name}_${column}_not_null`.slice(0, 63));
  return [
    `ALTER TABLE ${table} DROP CONSTRAINT IF EXISTS ${check}`,
    `ALTER TABLE ${table} ADD CONSTRAINT ${check} CHECK (${q(column)} IS NOT NULL) NOT VALID`,
    `ALTER TABLE ${table} VALIDATE CONSTRAINT ${check}`,
    `ALTER TABLE ${table} ALTER COLUMN ${q(column)} SET NOT NULL`,
    `ALTER TABLE ${table} DROP CONSTRAINT IF EXISTS ${check}`,
  ];
}

/** Expand, contract and the moves' backfill for the changes; `key` is the table's primary key (for a migration with nothing to copy). */
export function planChanges(
  changes: Change[],
  renames: Rename[],
  old: (t: TableRef, c: string) => OldColumn | undefined,
  key: (t: TableRef) => string[],
): PlannedMigration | undefined {
  const found = findMoves(changes, renames, old);
  const table = found[0]?.table ?? tableOfFirst(changes);
  if (!table) return undefined;
  const t = tableSql(table);
  const mine = found.filter((f) => sameTable(f.table, table));
  const moves = mine.map((f) => f.move);
  const used = new Set(mine.flatMap((f) => f.used));
  const p: PlannedMigration = {
    table,
    expandUp: [],
    expandDown: [],
    trigger: triggerBody(moves),
    where: '',
    set: '',
    contractUp: [],
    review: [],
    unsafe: [],
  };
  for (const other of found.filter((f) => !sameTable(f.table, table))) {
    for (const c of other.used)
      p.unsafe.push({
        sql: c.sql,
        why: `a ${other.move.kind} on another table: ferry migrates one table per migration; generate it once this one is done`,
      });
    other.used.forEach((c) => used.add(c));
  }
  moveSteps(p, t, moves, old);
  for (const c of changes) if (!used.has(c)) place(p, c, old);
  if (!moves.length) {
    const pk = key(table).map(q);
    p.where = 'false';
    p.set = pk.length ? `${pk[0]} = ${pk[0]}` : '';
    p.review.push('nothing to copy: the backfill matches no row');
  }
  if (!p.expandUp.length) {
    p.expandUp.push('SELECT 1');
    p.expandDown.push('SELECT 1');
  }
  if (!p.contractUp.length) p.contractUp.push('SELECT 1');
  return p;
}

function tableOfFirst(changes: Change[]): TableRef | undefined {
  const c = changes.find((x) => 'table' in x && typeof x.table === 'object');
  return c && 'table' in c && !Array.isArray(c.table) ? c.table : undefined;
}

/** The new columns in expand, the copy in the backfill and verify, the swap in contract. */
function moveSteps(p: PlannedMigration, t: string, moves: Move[], old: (t: TableRef, c: string) => OldColumn | undefined): void {
  for (const m of moves) {
    p.expandUp.push(`ALTER TABLE ${t} ADD COLUMN IF NOT EXISTS ${q(m.to)} ${m.add.type}`);
    p.expandDown.unshift(`ALTER TABLE ${t} DROP COLUMN IF EXISTS ${q(m.to)}`);
    if (m.kind === 'rename' && old(p.table, m.from)?.notNull) {
      // Code that writes only the new name must be able to insert: the old column may be NULL until the contract drops it.
      p.expandUp.push(`ALTER TABLE ${t} ALTER COLUMN ${q(m.from)} DROP NOT NULL`);
      p.expandDown.unshift(...notNullSteps(t, p.table.name, m.from)); // a rollback restores it the safe way too
    }
    if (m.value.includes('::')) p.review.push(`check the cast ${m.value}: rows it fails on are recorded as failed rows`);
  }
  p.where = moves.map((m) => `(${q(m.to)} IS NULL AND ${q(m.from)} IS NOT NULL)`).join(' OR ');
  p.set = moves.map((m) => `${q(m.to)} = ${m.value}`).join(', ');
  p.verify = moves.map((m) => `${q(m.to)} IS DISTINCT FROM ${m.value}`).join(' OR ');
  for (const m of moves) {
    const final = m.kind === 'rename' ? m.to : m.from;
    if (m.kind === 'rename') p.contractUp.push(`ALTER TABLE ${t} DROP COLUMN IF EXISTS ${q(m.from)}`);
    else p.contractUp.push(swapColumns(t, p.table, m));
    if (m.add.default !== undefined) p.contractUp.push(`ALTER TABLE ${t} ALTER COLUMN ${q(final)} SET DEFAULT ${m.add.default}`);
    if (m.add.notNull) {
      p.contractUp.push(...notNullSteps(t, p.table.name, final));
      p.review.push(
        `the contract validates ${final} NOT NULL with a full scan (VALIDATE CONSTRAINT, outside a transaction: reads and writes go on meanwhile)`,
      );
    }
  }
}

/** Drops the old column and renames the new one to its name, in one statement that a re-run skips. */
function swapColumns(t: string, table: TableRef, m: Move): string {
  const schema = table.schema ?? 'public';
  const exists = `SELECT 1 FROM information_schema.columns WHERE table_schema = ${lit(schema)} AND table_name = ${lit(table.name)} AND column_name = ${lit(m.to)}`;
  return `DO $ferry$ BEGIN IF EXISTS (${exists}) THEN ALTER TABLE ${t} DROP COLUMN IF EXISTS ${q(m.from)}; ALTER TABLE ${t} RENAME COLUMN ${q(m.to)} TO ${q(m.from)}; END IF; END $ferry$`;
}

const lit = (s: string) => `'${s.replace(/'/g, "''")}'`;

/** An unpaired change: additive → expand (its reverse in expand.down), destructive → contract, else unsafe. */
function place(p: PlannedMigration, c: Change, old: (t: TableRef, c: string) => OldColumn | undefined): void {
  switch (c.kind) {
    case 'add-column': {
      const t = tableSql(c.table);
      if (c.notNull && c.default === undefined) {
        p.unsafe.push({
          sql: c.sql,
          why: `${c.table.name}.${c.column} is NOT NULL without a default: existing rows have no value for it; give it a default, or make it nullable and backfill it`,
        });
        return;
      }
      p.expandUp.push(`${c.sql.replace(/^ALTER TABLE (.*?) ADD /, (_m, tbl) => `ALTER TABLE ${tbl} ADD COLUMN IF NOT EXISTS `)}`.trim());
      p.expandDown.unshift(`ALTER TABLE ${t} DROP COLUMN IF EXISTS ${q(c.column)}`);
      return;
    }
    case 'create-index':
      p.expandUp.push(c.sql.replace(/^CREATE (UNIQUE )?INDEX /, (_m, u) => `CREATE ${u ?? ''}INDEX CONCURRENTLY IF NOT EXISTS `).trim());
      p.expandDown.unshift(`DROP INDEX CONCURRENTLY IF EXISTS ${c.table.schema ? `${q(c.table.schema)}.` : ''}${q(c.index)}`);
      return;
    case 'create-table':
      p.expandUp.push(c.sql.replace(/^CREATE TABLE /, 'CREATE TABLE IF NOT EXISTS '));
      p.expandDown.unshift(`DROP TABLE IF EXISTS ${tableSql(c.table)}`);
      return;
    case 'column-default':
    case 'drop-not-null':
      p.expandUp.push(c.sql);
      p.review.push(`expand.down does not undo: ${c.sql}`);
      return;
    case 'drop-column':
      if (old(c.table, c.column)?.notNull) {
        // Code that no longer writes it must be able to insert until the contract drops it.
        p.expandUp.push(`ALTER TABLE ${tableSql(c.table)} ALTER COLUMN ${q(c.column)} DROP NOT NULL`);
        p.expandDown.unshift(...notNullSteps(tableSql(c.table), c.table.name, c.column)); // a rollback restores it the safe way too
      }
      p.contractUp.push(`ALTER TABLE ${tableSql(c.table)} DROP COLUMN IF EXISTS ${q(c.column)}`);
      return;
    case 'drop-index':
      p.contractUp.push(`DROP INDEX CONCURRENTLY IF EXISTS ${c.index.map(q).join('.')}`);
      return;
    case 'drop-table':
      p.contractUp.push(`DROP TABLE IF EXISTS ${c.table.map(q).join('.')}`);
      return;
    case 'rename-column': // unfoldRenames makes it an add and a drop; one left here is not placed
      p.unsafe.push({ sql: c.sql, why: 'a rename in place breaks the code that still uses the old name' });
      return;
    default:
      p.unsafe.push({ sql: c.sql, why: c.why });
  }
}
