import { connectionError, createPool } from '../pg/pool';
import { sqlstate } from '../pg/errors';
import { formatDuration, parseDuration } from '../contract/duration';
import { EXIT, FerryError } from '../contract/errors';
import { planMigration, type Plan } from '../plan';
import { loadMigration } from '../definition/registry';
import { assertDdlSafe, type ReviewedLock, type ReviewedStatement } from '../ddl/checks';
import { connectionSource } from '../typeorm/connection';
import type { PoolSource } from '../pg/pool';

/** Concurrency from which the plan stops advising more partitions. */
const HIGH_CONCURRENCY = 8;

/** `ferry plan <name> [--deadline 3d] [--no-trial] [--data-source file] [--json]`: returns the exit code. */
export async function planCommand(
  name: string,
  opts: { deadline?: string; trial?: boolean; json?: boolean; dataSource?: string },
): Promise<number> {
  const migration = loadMigration(name);
  const deadline = opts.deadline ?? migration.definition.backfill.deadline;
  const deadlineMs = deadline === undefined ? undefined : parseDuration(deadline, opts.deadline ? '--deadline' : 'backfill.deadline');
  const source = await connectionSource(opts.dataSource); // DATABASE_URL, or the TypeORM DataSource
  const pool = createPool(source, { max: 2 });
  try {
    const plan = await planMigration(pool, migration, { deadlineMs, trial: opts.trial }).catch((err) => {
      throw databaseError(name, err, source);
    });
    console.log(opts.json ? JSON.stringify(plan, null, 2) : formatPlan(plan));
    assertDdlSafe(name, plan.review); // printed above; refused here: exit 2
    return plan.deadline && !plan.deadline.meets ? EXIT.failed : EXIT.ok;
  } finally {
    await pool.end();
  }
}

/**
 * Any database error as one line, never a stack: connecting (DATABASE_URL or the DataSource named, password masked),
 * else what PostgreSQL said. Errors of ferry's own pass through.
 */
export function databaseError(name: string, err: unknown, source?: PoolSource): unknown {
  if (err instanceof FerryError) return err;
  const connecting = connectionError(err, source);
  if (connecting instanceof FerryError) return connecting;
  const code = sqlstate(err);
  const message = (err as Error)?.message ?? String(err);
  return new FerryError(
    'FAILED',
    `migration "${name}": PostgreSQL refused${code ? ` (SQLSTATE ${code})` : ''}: ${message}; nothing was changed.`,
  );
}

const block = (title: string, lines: string[]) => [`${title}:`, ...lines.map((l) => `    ${l.replace(/\n/g, '\n    ')};`)];

/** The plan for people. */
export function formatPlan(p: Plan): string {
  const t = p.trial;
  const lines = [
    `migration ${p.name} on ${p.table} (spec ${p.specHash}), keyset on (${p.key.join(', ')})`,
    `  estimated rows: ${p.estimatedRows.toLocaleString('en-US')} (planner statistics)`,
    t.ran
      ? `  trial batch:    ${t.rows} rows (${t.updated} changed) in ${t.ms} ms = ${t.rowsPerSec.toLocaleString('en-US')} rows/s, rolled back` +
        (t.expandedInTrial ? '\n                  (expand ran inside the trial transaction: the table was locked for its duration)' : '')
      : `  trial batch:    not run: ${t.reason}`,
    `  backfill ETA:   ${p.etaSeconds === null ? 'unknown' : `${formatDuration(p.etaSeconds * 1000)} at the trial's rate, ${partitions(p.concurrency)}`}`,
    `  proved:         ${p.proof.checked.length ? p.proof.checked.join(', ') : 'nothing'} (in a transaction that was rolled back)`,
    ...p.proof.skipped.map((s) => `  not proved:     ${s}`),
  ];
  if (p.deadline) {
    const advice =
      p.concurrency < HIGH_CONCURRENCY
        ? `raise backfill.concurrency (now ${p.concurrency}) or batch size, or allow more time`
        : 'raise batch size, or allow more time';
    lines.push(
      `  deadline:       ${formatDuration(p.deadline.seconds * 1000)}: ${p.deadline.meets ? 'can be met' : `CANNOT be met at this rate; ${advice}`}`,
    );
  }
  return [
    ...lines,
    ...reviewLines(p),
    '',
    ...block('expand', p.ddl.expand),
    ...block('contract', p.ddl.contract),
    ...block('rollback (ferry abort --rollback)', p.ddl.rollback),
  ].join('\n');
}

const partitions = (n: number) => (n === 1 ? '1 partition' : `${n} partitions at once`);

/** The DDL forecast: each statement's locks, rewrite/scan and duration, its findings and overrides. */
function reviewLines(p: Plan): string[] {
  const r = p.review;
  const lines = ['', "DDL forecast (read by PostgreSQL's parser; durations = table size ÷ a measured rate, see README):"];
  for (const s of r.statements) lines.push(...statementLines(s));
  for (const u of r.unused) lines.push(`  unsafe: ${u.check} is overridden ("${u.reason}") but nothing needs it; remove it`);
  if (r.refused.length)
    lines.push(`  ${r.refused.length} dangerous form(s) REFUSED: ferry plan and ferry start exit 2 until fixed or overridden`);
  return lines;
}

function statementLines(s: ReviewedStatement): string[] {
  const head = `  ${s.field}: ${s.kind}${s.outsideTransaction ? ', outside a transaction' : ''}`;
  const locks = s.locks.length ? s.locks.map((l) => `      ${lockLine(l)}`) : ['      no table lock ferry can name'];
  const findings = s.findings.flatMap((f) =>
    f.override !== undefined
      ? [`      allowed by unsafe [${f.check}]: "${f.override}" (${f.problem})`]
      : [`      REFUSED [${f.check}]: ${f.problem}`, `        instead: ${f.safe}`],
  );
  return [head, ...locks, ...findings];
}

function lockLine(l: ReviewedLock): string {
  const touch = { none: 'catalog only', scan: 'scans the table', rewrite: 'rewrites the table' }[l.touch];
  if (l.rows === undefined) return `${l.mode} on ${l.table} (not there yet), ${touch}`;
  const size = `${l.rows.toLocaleString('en-US')} rows, ${Math.max(1, Math.round((l.bytes ?? 0) / 1024)).toLocaleString('en-US')} kB`;
  const e = l.estimate;
  const est = e ? `, ${e.seconds < 1 ? 'under 1 s' : `about ${formatDuration(Math.round(e.seconds * 1000))}`} (${e.how})` : '';
  return `${l.mode} on ${l.table} (${size}), ${touch}${est}`;
}
