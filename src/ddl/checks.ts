import type { Pool } from 'pg';
import { FerryError } from '../contract/errors';
import type { MigrationDefinition } from '../definition/define';
import { analyzeStatements, CHECKS, type CheckName, type Hazard, type LockMode, type StatementInfo, type Touch } from '../pg/parse';
import { indexTable, qualified, tableFacts, typeChangeRewrites, volatileFunction, type TableFacts } from './catalog';
import { estimate, type Estimate } from './forecast';

/**
 * The dangerous-form checks: every statement of `expand.up`, `contract.up` and `expand.down` read
 * by PostgreSQL's parser (`src/pg/parse.ts`), each hazard decided against the catalog (a table
 * with rows, a validated CHECK, a binary-coercible type), overridden only by the definition's
 * `unsafe: [{ check, reason }]`. `ferry plan` prints the review; `ferry plan` and `ferry start`
 * refuse (exit 2) before anything runs while a finding is not overridden.
 */

/** The statement lists of a definition, in the order they run. */
export const DDL_FIELDS = ['expand.up', 'contract.up', 'expand.down'] as const;
export type DdlField = (typeof DDL_FIELDS)[number];

/** The forms checked only in `expand.up`: there the application still uses every row. */
const EXPAND_ONLY = new Set<CheckName>(['vacuum-full', 'cluster', 'lock-table', 'truncate']);

/** One dangerous form found: what, where, why, and what to write instead. */
export interface Finding {
  check: CheckName;
  field: string;
  table: string;
  problem: string;
  safe: string;
  /** The definition's `unsafe` reason when it overrides this check. */
  override?: string;
}

/** A lock a statement takes, with the table's size and the duration forecast. */
export interface ReviewedLock {
  table: string;
  mode: LockMode;
  touch: Touch;
  /** Absent when the table does not exist yet (the list creates it). */
  rows?: number;
  bytes?: number;
  estimate?: Estimate;
}

/** One statement as `ferry plan` forecasts it. */
export interface ReviewedStatement {
  field: string;
  text: string;
  kind: string;
  locks: ReviewedLock[];
  outsideTransaction: boolean;
  findings: Finding[];
}

/** Everything the checks found in a definition. */
export interface DdlReview {
  statements: ReviewedStatement[];
  /** Findings no `unsafe` entry overrides: `ferry plan` and `ferry start` refuse these. */
  refused: Finding[];
  /** Findings overridden by `unsafe`, with the reason. */
  overridden: Finding[];
  /** `unsafe` entries that matched nothing. */
  unused: { check: string; reason: string }[];
}

/**
 * Reviews the definition's DDL against the database; changes nothing.
 * @example const review = await reviewDdl(pool, migration.definition); assertDdlSafe('posts-member-uuid', review);
 * @throws FerryError INVALID_DEFINITION for SQL the parser refuses or an `unsafe` check that does not exist.
 */
export async function reviewDdl(pool: Pool, d: MigrationDefinition, fields: readonly DdlField[] = DDL_FIELDS): Promise<DdlReview> {
  const overrides = validOverrides(d.unsafe ?? []);
  const statements: ReviewedStatement[] = [];
  for (const field of fields) statements.push(...(await reviewList(pool, field, listOf(d, field))));
  const found = statements.flatMap((s) => s.findings);
  for (const f of found) if (overrides.has(f.check)) f.override = overrides.get(f.check);
  return {
    statements,
    refused: found.filter((f) => f.override === undefined),
    overridden: found.filter((f) => f.override !== undefined),
    unused: [...overrides].filter(([check]) => !found.some((f) => f.check === check)).map(([check, reason]) => ({ check, reason })),
  };
}

/**
 * Throws when the review refused anything: every finding with its safe form and the override.
 * @throws FerryError INVALID_DEFINITION (exit 2).
 */
export function assertDdlSafe(name: string, review: DdlReview): void {
  if (review.refused.length === 0) return;
  const lines = review.refused.map((f) => `  - ${f.field} [${f.check}]: ${f.problem}\n    instead: ${f.safe}`);
  throw new FerryError(
    'INVALID_DEFINITION',
    `migration "${name}" has DDL that would block or rewrite a table with rows:\n${lines.join('\n')}\n` +
      `Write the safe form, or, if this is safe here, add unsafe: [{ check: '<check>', reason: '<why>' }] to the definition. Nothing was changed.`,
  );
}

export function listOf(d: MigrationDefinition, field: DdlField): string[] {
  return field === 'expand.up' ? d.expand.up : field === 'contract.up' ? d.contract.up : d.expand.down;
}

function validOverrides(list: { check: string; reason: string }[]): Map<string, string> {
  const known = new Set<string>(CHECKS);
  list.forEach((u, i) => {
    if (!known.has(u.check)) {
      throw new FerryError(
        'INVALID_DEFINITION',
        `unsafe[${i}].check "${u.check}" is not a check ferry makes; the checks are: ${CHECKS.join(', ')}. Fix the definition; nothing was changed.`,
      );
    }
  });
  return new Map(list.map((u) => [u.check, u.reason]));
}

/** What the list has done to each table so far: columns proven NOT NULL, NOT VALID checks not yet validated. */
interface ListState {
  facts: Map<string, TableFacts | undefined>;
  proven: Map<number, Set<string>>;
  pending: Map<string, string>;
}

async function reviewList(pool: Pool, field: DdlField, list: string[]): Promise<ReviewedStatement[]> {
  const infos = await analyzeStatements(list, field);
  const state: ListState = { facts: new Map(), proven: new Map(), pending: new Map() };
  const out: ReviewedStatement[] = [];
  for (const [i, info] of infos.entries()) {
    const where = infos.length > 1 ? `${field}[${i}]` : field;
    const findings: Finding[] = [];
    for (const h of info.hazards) {
      if (EXPAND_ONLY.has(h.check) && field !== 'expand.up') continue;
      const finding = await judge(pool, state, where, info, h);
      if (finding) findings.push(finding);
    }
    out.push({
      field: where,
      text: info.text,
      kind: info.kind,
      locks: await reviewLocks(pool, state, info, binaryOnly(info, findings)),
      outsideTransaction: info.outsideTransaction,
      findings,
    });
    await remember(pool, state, info);
  }
  return out;
}

async function factsOf(pool: Pool, state: ListState, table: { schema?: string; name: string }): Promise<TableFacts | undefined> {
  const key = qualified(table);
  if (!state.facts.has(key)) state.facts.set(key, await tableFacts(pool, table));
  return state.facts.get(key);
}

/** The statement changes column types and the catalog found every change binary coercible (or the table empty). */
function binaryOnly(info: StatementInfo, findings: Finding[]): boolean {
  return info.hazards.some((h) => h.check === 'column-type-rewrite') && !findings.some((f) => f.check === 'column-type-rewrite');
}

async function reviewLocks(pool: Pool, state: ListState, info: StatementInfo, binary: boolean): Promise<ReviewedLock[]> {
  const locks = info.locks.map((l) => (binary && l.ifBinaryCoercible ? { ...l, touch: l.ifBinaryCoercible } : l));
  if (info.index && !info.index.create) {
    const table = await indexTable(pool, info.index);
    if (table) locks.push({ table, mode: info.index.concurrent ? 'SHARE UPDATE EXCLUSIVE' : 'ACCESS EXCLUSIVE', touch: 'none' });
  }
  const out: ReviewedLock[] = [];
  for (const l of locks) {
    const facts = await factsOf(pool, state, l.table);
    if (!facts) {
      out.push({ table: qualified(l.table), mode: l.mode, touch: l.touch });
      continue;
    }
    const est = estimate(info, l.touch, facts);
    out.push({
      table: facts.quoted,
      mode: l.mode,
      touch: l.touch,
      rows: facts.rows,
      bytes: facts.totalBytes,
      ...(est && { estimate: est }),
    });
  }
  return out;
}

/** Records the constraints a statement adds or validates, for the SET NOT NULL check of later statements. */
async function remember(pool: Pool, state: ListState, info: StatementInfo): Promise<void> {
  for (const c of info.adds?.constraints ?? []) {
    if (!c.notNull) continue;
    if (c.valid) await prove(pool, state, info.adds!.table, c.notNull);
    else if (c.name) state.pending.set(c.name, c.notNull);
  }
  for (const name of info.validates?.names ?? []) {
    const column = state.pending.get(name);
    if (column && info.validates) await prove(pool, state, info.validates.table, column);
  }
}

async function prove(pool: Pool, state: ListState, table: { schema?: string; name: string }, column: string): Promise<void> {
  const facts = await factsOf(pool, state, table);
  if (!facts) return;
  const set = state.proven.get(facts.oid) ?? new Set(facts.notNullChecks);
  set.add(column);
  state.proven.set(facts.oid, set);
}

/** A hazard on a table with rows is a finding unless the catalog proves it harmless. */
async function judge(pool: Pool, state: ListState, field: string, info: StatementInfo, h: Hazard): Promise<Finding | undefined> {
  const facts = await factsOf(pool, state, h.table);
  if (!facts?.hasRows) return undefined;
  const problem = await problemOf(pool, state, facts, info, h);
  if (!problem) return undefined;
  return { check: h.check, field, table: facts.quoted, problem, safe: safeForm(h, facts.quoted) };
}

async function problemOf(pool: Pool, state: ListState, facts: TableFacts, info: StatementInfo, h: Hazard): Promise<string | undefined> {
  const t = `${facts.quoted} (about ${facts.rows.toLocaleString('en-US')} rows)`;
  switch (h.check) {
    case 'index-not-concurrent':
      return info.index
        ? `${info.kind} without CONCURRENTLY holds a SHARE lock on ${t} for the whole build: every INSERT, UPDATE and DELETE waits`
        : `${info.kind} builds its index under ACCESS EXCLUSIVE on ${t}: every read and write waits for the whole build`;
    case 'constraint-not-valid':
      return `ADD CONSTRAINT without NOT VALID checks every row of ${t} while holding ${info.locks[0]?.mode ?? 'its lock'}`;
    case 'set-not-null': {
      const proven = state.proven.get(facts.oid) ?? new Set(facts.notNullChecks);
      if (h.column && proven.has(h.column)) return undefined;
      return `SET NOT NULL on "${h.column}" scans every row of ${t} under ACCESS EXCLUSIVE (reads wait too): there is no validated CHECK ("${h.column}" IS NOT NULL)`;
    }
    case 'column-type-rewrite': {
      const why = await typeChangeRewrites(pool, facts, h);
      return why && `ALTER COLUMN "${h.column}" TYPE rewrites ${t} and its indexes under ACCESS EXCLUSIVE (${why})`;
    }
    case 'volatile-default': {
      const why = h.always ?? (await volatileFunction(pool, h.functions ?? []).then((f) => f && `${f}() is volatile (or unknown)`));
      return why && `ADD COLUMN "${h.column}" rewrites ${t} under ACCESS EXCLUSIVE: ${why}`;
    }
    default:
      return `${info.kind} in expand takes ACCESS EXCLUSIVE on ${t}${h.check === 'lock-table' ? ' until the statement ends' : ' and rewrites it'} while the application uses it`;
  }
}

/** What to write instead, per check (the README's operator's manual says why). */
export function safeForm(h: Hazard, table: string): string {
  const col = h.column ? `"${h.column}"` : 'col';
  switch (h.check) {
    case 'index-not-concurrent':
      return (
        `CREATE [UNIQUE] INDEX CONCURRENTLY IF NOT EXISTS <name> ON ${table} (...), as its own statement (ferry runs it outside a transaction ` +
        `and rebuilds an INVALID one); for a PRIMARY KEY or UNIQUE constraint, then ALTER TABLE ${table} ADD CONSTRAINT <c> UNIQUE USING INDEX <name>`
      );
    case 'constraint-not-valid':
      return `ALTER TABLE ${table} ADD CONSTRAINT <name> ... NOT VALID; then, as the next statement, ALTER TABLE ${table} VALIDATE CONSTRAINT <name> (SHARE UPDATE EXCLUSIVE: reads and writes go on)`;
    case 'set-not-null':
      return (
        `ALTER TABLE ${table} ADD CONSTRAINT <c> CHECK (${col} IS NOT NULL) NOT VALID; ALTER TABLE ${table} VALIDATE CONSTRAINT <c>; ` +
        `then ALTER TABLE ${table} ALTER COLUMN ${col} SET NOT NULL (PostgreSQL uses the validated CHECK and scans nothing)`
      );
    case 'column-type-rewrite':
      return `add a new column of the new type in expand, fill it with ferry's backfill (and dual write), switch the application, drop the old column in contract`;
    case 'volatile-default':
      return `ADD COLUMN ${col} without the default (or with a constant one), ALTER COLUMN ${col} SET DEFAULT ... for new rows, and fill existing rows with ferry's backfill`;
    case 'lock-table':
      return 'remove it: ferry takes the lock each statement needs, under a short lock_timeout with retries';
    case 'truncate':
      return 'never in expand; delete rows in contract, after verify and approval, or in batches with a backfill';
    default:
      return 'run plain VACUUM (no ACCESS EXCLUSIVE lock), or pg_repack outside the migration, at a quiet time';
  }
}
