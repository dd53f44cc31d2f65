import { connectionError, createPool } from '../pg/pool';
import { sqlstate } from '../pg/errors';
import { formatDuration, parseDuration } from '../contract/duration';
import { EXIT, FerryError } from '../contract/errors';
import { planMigration, type Plan } from '../plan';
import { loadMigration } from '../definition/registry';
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
    '',
    ...block('expand', p.ddl.expand),
    ...block('contract', p.ddl.contract),
    ...block('rollback (ferry abort --rollback)', p.ddl.rollback),
  ].join('\n');
}

const partitions = (n: number) => (n === 1 ? '1 partition' : `${n} partitions at once`);
