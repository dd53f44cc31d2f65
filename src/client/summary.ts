/**
 * What the Web UI shows of a migration from its start: the one-line summary (the list's and the
 * page's headline) and the static details (what will run, in order). Names and SQL only, never data.
 */
import { formatDuration } from '../contract/duration';
import { describeApprovalRule } from '../contract/approval';
import type { MigrationInput } from '../contract/migration';
import type { LoadedMigration } from '../definition/registry';
import { droppedBy } from '../pg/parse';
import { quoteIdent } from '../pg/quote';

/** The parts of `sql` separated by commas outside parentheses and quotes. */
function topLevelParts(sql: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quote: string | undefined;
  let start = 0;
  for (let i = 0; i < sql.length; i++) {
    const c = sql[i];
    if (quote) {
      if (c === quote) quote = undefined;
    } else if (c === "'" || c === '"') quote = c;
    else if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      parts.push(sql.slice(start, i));
      start = i + 1;
    }
  }
  return [...parts, sql.slice(start)].map((p) => p.trim()).filter(Boolean);
}

/**
 * The columns a `backfill.set` assigns, as written.
 * @example assignedColumns('a = 1, "B" = f(x, y)') // ['a', '"B"']
 */
export function assignedColumns(set: string): string[] {
  return topLevelParts(set).map((part) => part.split('=')[0].trim());
}

/** A name as an author would write it: plain when PostgreSQL needs no quotes, else quoted. */
function written(name: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(name) ? name : quoteIdent(name);
}

/** What `contract.up` does, in words: the columns or tables it drops, else how many statements it runs. */
async function contractWords(statements: string[]): Promise<string> {
  const dropped: string[] = [];
  for (const sql of statements) {
    for (const d of await droppedBy(sql)) {
      const table = [d.table.schema, d.table.name].filter((p) => p !== undefined).map(written);
      dropped.push(d.column !== undefined ? written(d.column) : `table ${table.join('.')}`);
    }
  }
  if (dropped.length > 0) return `drops ${dropped.join(', ')}`;
  return `runs ${statements.length} statement${statements.length === 1 ? '' : 's'}`;
}

/** At most `max` characters of one line of `text`. */
function short(text: string, max = 80): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/**
 * The Web UI's one-line summary of a migration, in the words of the list: what the backfill
 * changes, which rows, and what the contract drops after which wait.
 * @example await summaryLine(m, input) // 'backfill posts.member_uuid where member_uuid IS NULL AND member_id IS NOT NULL — contract drops member_id after 7d cool-off and approval'
 */
export async function summaryLine(m: LoadedMigration, input: Pick<MigrationInput, 'coolOffMs' | 'approvalRequired'>): Promise<string> {
  const d = m.definition;
  // The table as its author wrote it (`posts`, `app.users`): the Web UI renders quotes as typography.
  const what = d.backfill.set ? `backfill ${d.table}.${assignedColumns(d.backfill.set).join(', ')}` : `process the rows of ${d.table}`;
  const wait = `${formatDuration(input.coolOffMs)} cool-off${input.approvalRequired ? ' and approval' : ''}`;
  return `${what} where ${short(d.backfill.where)} — contract ${await contractWords(d.contract.up)} after ${wait}`;
}

/** Step 6 of the summary: whether a person approves, and who may (`contract.approval`). */
function approvalWords(input: MigrationInput): string {
  if (!input.approvalRequired) return 'no approval needed';
  return input.approval ? `approval by ${describeApprovalRule(input.approval)}` : 'approval';
}

/** The static details shown in the Web UI at start: what will run, in order, and where to look. */
export function summaryMarkdown(m: LoadedMigration, input: MigrationInput): string {
  const d = m.definition;
  const sql = (lines: string[]) => lines.map((l) => `    ${l}`).join('\n');
  return [
    `**${m.name}** on \`${input.table}\` (spec ${m.specHash}), started by ${input.startedBy}`,
    `1. expand:\n${sql(d.expand.up)}`,
    `2. dual write: ${d.dualWrite.by === 'app' ? 'waits for the "deployed" signal' : 'ferry trigger'}`,
    `3. backfill rows where \`${d.backfill.where}\`${d.backfill.set ? `: set \`${d.backfill.set}\`` : ' with process()'}`,
    ...(d.after.length
      ? [`0. waits for: ${d.after.map((a) => (a.phase === 'completed' ? a.name : `${a.name} (${a.phase})`)).join(', ')}`]
      : []),
    `4. verify${input.verifyEveryMs ? ` (again every ${formatDuration(input.verifyEveryMs)} of the cool-off)` : ''}, ` +
      `5. cool-off ${formatDuration(input.coolOffMs)}, 6. ${approvalWords(input)}`,
    `7. contract:\n${sql(d.contract.up)}`,
    ...(d.unsafe ?? []).map((u) => `unsafe DDL allowed: **${u.check}**: ${u.reason}`),
    'Phase, progress, ETA and what it waits for: **Current Details** below (needs a running `ferry worker`), or `ferry status ' +
      `${m.name}\`.`,
  ].join('\n\n');
}
