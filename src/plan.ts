import type { Pool, PoolClient } from 'pg';
import { FerryError } from './contract/errors';
import { formatDuration } from './contract/duration';
import { describeTable, type TableInfo } from './pg/catalog';
import { ddlDefaults } from './pg/ddl';
import { assertDdlSafe, reviewDdl, type DdlReview } from './ddl/checks';
import { isDefinitionError, LOCK_NOT_AVAILABLE, QUERY_CANCELED, sqlstate } from './pg/errors';
import { RollbackWith, withTransaction } from './pg/transaction';
import type { LoadedMigration } from './definition/registry';
import { buildSelectRows, buildSetBatch } from './sql/backfill';
import { createFunctionSql, createTriggerSql, dropTriggerSql } from './sql/dual-write';

/** What `ferry plan` reports: the DDL in order, the size of the job and how long it should take. */
export interface Plan {
  name: string;
  table: string;
  specHash: string;
  key: string[];
  estimatedRows: number;
  ddl: { expand: string[]; contract: string[]; rollback: string[] };
  /**
   * Each statement of expand.up, contract.up and expand.down read by PostgreSQL's parser: its
   * locks, rewrite/scan, a duration forecast, and the dangerous forms found (`refused` makes
   * `ferry plan` and `ferry start` exit 2; `overridden` lists the definition's `unsafe` reasons).
   */
  review: DdlReview;
  trial: Trial;
  /** What the trial proved against the database (rolled back), and what it could not run. */
  proof: Proof;
  /** `backfill.concurrency`: partitions that run at once; the ETA divides by it. */
  concurrency: number;
  /** Seconds for the whole backfill at the trial's rate × concurrency, or null without a trial. */
  etaSeconds: number | null;
  deadline?: { seconds: number; meets: boolean };
}

/** One batch measured in a transaction that is rolled back. */
export type Trial =
  { ran: true; rows: number; updated: number; ms: number; rowsPerSec: number; expandedInTrial: boolean } | { ran: false; reason: string };

/**
 * Plans a migration without changing anything: validates it against the catalog, lists its DDL,
 * estimates rows from statistics and proves the definition with `proveMigration` (expand, the
 * trigger, one batch, the verify predicate, in a transaction that is rolled back), timing the
 * batch for the ETA, which divides by `backfill.concurrency`. `process()` batches are not run
 * (their code may have side effects outside the database): their read is planned instead.
 * @throws FerryError INVALID_DEFINITION (exit 2) naming the field and PostgreSQL's message, or
 * UNAVAILABLE (exit 1) when the table's lock was not granted within the DDL lock_timeout.
 * @example const plan = await planMigration(pool, loadMigration('posts-member-uuid'), { deadlineMs: 3 * 86400e3 });
 */
export async function planMigration(pool: Pool, m: LoadedMigration, opts: { deadlineMs?: number; trial?: boolean } = {}): Promise<Plan> {
  const d = m.definition;
  const info = await describeTable(pool, d.table, d.key);
  const review = await reviewDdl(pool, d);
  const why = opts.trial === false ? '--no-trial' : review.refused.length ? 'the DDL was refused; see the findings' : undefined;
  const skipped: { trial: Trial; proof: Proof } = {
    trial: { ran: false, reason: `skipped (${why})` },
    proof: { checked: [], skipped: [`the whole trial (${why})`] },
  };
  const { trial, proof } = why ? skipped : await proveMigration(pool, m, info, review);
  const concurrency = d.backfill.concurrency;
  const etaSeconds = trial.ran && trial.rowsPerSec > 0 ? Math.ceil(info.estimatedRows / (trial.rowsPerSec * concurrency)) : null;
  return {
    name: m.name,
    table: info.quoted,
    specHash: m.specHash,
    key: info.key.map((k) => k.name),
    estimatedRows: info.estimatedRows,
    ddl: ddlOf(m, info.quoted),
    review,
    trial,
    proof,
    concurrency,
    etaSeconds,
    ...(opts.deadlineMs !== undefined && {
      deadline: { seconds: opts.deadlineMs / 1000, meets: etaSeconds !== null && etaSeconds * 1000 <= opts.deadlineMs },
    }),
  };
}

function ddlOf(m: LoadedMigration, table: string): Plan['ddl'] {
  const d = m.definition;
  const trigger = d.dualWrite.by === 'trigger' ? [createFunctionSql(m.name, d.dualWrite.body), createTriggerSql(m.name, table)] : [];
  const dropTrigger = d.dualWrite.by === 'trigger' ? dropTriggerSql(m.name, table, true) : [];
  return {
    expand: [...d.expand.up, ...trigger],
    contract: [...dropTrigger, ...d.contract.up],
    rollback: [...dropTrigger, ...d.expand.down],
  };
}

/** What `proveMigration` ran (each a field of the definition) and what it skipped, with why. */
export interface Proof {
  checked: string[];
  skipped: string[];
}

/** One statement of the proof: the field it comes from, and how to run it. */
interface Step {
  field: string;
  run: (client: PoolClient) => Promise<unknown>;
}

/**
 * Proves a definition against the database without changing anything: in ONE transaction that is
 * always rolled back (PostgreSQL's DDL is transactional), under the DDL `lock_timeout`
 * (`FERRY_LOCK_TIMEOUT`), it runs `expand.up` (CONCURRENTLY statements cannot run in a
 * transaction: skipped and listed), ferry's dual-write function and trigger, one batch (`set`,
 * timed; or the read of `process`, planned with EXPLAIN, as its code may have side effects) and
 * the `verify.where` predicate (planned with EXPLAIN). `ferry plan` and `ferry start` run it
 * before anything changes. First the dangerous-form checks (`reviewDdl`; pass `review` when done
 * already): a finding the definition does not override refuses the migration before the trial.
 * Statements that must run outside a transaction, that scan or rewrite a table with rows (an
 * overridden finding) or that are long by nature (VALIDATE CONSTRAINT) are not run in the trial,
 * which holds every lock it takes until it rolls back: they are listed as not proved.
 * @throws FerryError INVALID_DEFINITION naming the migration, the field and PostgreSQL's message,
 * or the dangerous forms found with their safe forms (exit 2); UNAVAILABLE when a lock was not granted in time or a statement ran too long (exit 1:
 * not the definition's fault; run again when the table is free).
 * @example await proveMigration(pool, migration, await describeTable(pool, 'posts'))
 */
export async function proveMigration(
  pool: Pool,
  m: LoadedMigration,
  info: TableInfo,
  review?: DdlReview,
): Promise<{ trial: Trial; proof: Proof }> {
  const checked = review ?? (await reviewDdl(pool, m.definition));
  assertDdlSafe(m.name, checked);
  const lockTimeoutMs = ddlDefaults().lockTimeoutMs;
  const settings = { lock_timeout: `${lockTimeoutMs}ms`, statement_timeout: '60s' };
  return withTransaction(
    pool,
    async (client) => {
      const proof: Proof = { checked: [], skipped: [] };
      const steps = await proofSteps(client, m, info, proof, checked);
      let trial: Trial = { ran: false, reason: 'process() may have side effects outside the database: its read was planned, not run' };
      for (const step of steps) {
        await client.query('SAVEPOINT ferry_proof');
        try {
          const result = await step.run(client);
          if (result && typeof result === 'object' && 'ran' in result) trial = result as Trial;
        } catch (err) {
          if (!isRowError(step, err)) throw proofError(m, info, step.field, err, lockTimeoutMs);
          // The SQL is valid; a row it met is bad: the backfill isolates such rows and records them.
          await client.query('ROLLBACK TO SAVEPOINT ferry_proof');
          const reason = `the trial batch met a row that fails (${(err as Error).message}); the backfill records such rows as failed rows`;
          trial = { ran: false, reason };
        }
        proof.checked.push(step.field);
      }
      return new RollbackWith({ trial, proof });
    },
    { settings },
  );
}

async function proofSteps(client: PoolClient, m: LoadedMigration, info: TableInfo, proof: Proof, review: DdlReview): Promise<Step[]> {
  const d = m.definition;
  const steps: Step[] = [];
  review.statements
    .filter((s) => s.field.startsWith('expand.up'))
    .forEach((s) => {
      const why = notInTrial(s);
      if (why) proof.skipped.push(`${s.field} (${why}; it runs at expand)`);
      else steps.push({ field: s.field, run: (c) => c.query(s.text) });
    });
  const expanded = steps.length > 0;
  if (d.dualWrite.by === 'trigger') {
    const { rows } = await client.query(`SELECT to_regnamespace('ferry') IS NOT NULL AS installed`);
    if (rows[0].installed) {
      const fn = createFunctionSql(m.name, d.dualWrite.body);
      const trigger = createTriggerSql(m.name, info.quoted);
      steps.push({ field: 'dualWrite.body', run: async (c) => (await c.query(fn), c.query(trigger)) });
    } else {
      proof.skipped.push('dualWrite.body (ferry\'s schema is not installed in this database yet: run "ferry setup")');
    }
  }
  const b = d.backfill;
  if (b.set !== undefined) {
    steps.push({ field: 'backfill.set', run: (c) => timedBatch(c, m, info, expanded) });
  } else {
    const read = buildSelectRows(info, { where: b.where }, { lower: 0, upper: 0 });
    steps.push({ field: 'backfill.where', run: (c) => c.query(`EXPLAIN ${read.text}`) });
  }
  const verifyWhere = d.verify.where;
  if (verifyWhere !== undefined) {
    steps.push({ field: 'verify.where', run: (c) => c.query(`EXPLAIN SELECT 1 FROM ${info.quoted} WHERE (\n${verifyWhere}\n)`) });
  }
  return steps;
}

/** Why a statement is not run inside the trial transaction, or undefined. */
function notInTrial(s: DdlReview['statements'][number]): string | undefined {
  if (s.outsideTransaction) return `${s.kind} cannot run in a transaction`;
  const heavy = s.locks.find((l) => l.touch !== 'none' && (l.rows ?? 0) > 0);
  if (heavy) {
    const what = heavy.touch === 'rewrite' ? 'rewrites' : 'scans';
    return `${s.kind} ${what} ${heavy.table}; the trial would hold its locks while it does`;
  }
  return undefined;
}

/**
 * An error of the trial batch caused by the data of a row (invalid input, a constraint), not by
 * the definition's SQL (class 42), a lock or a timeout: the real backfill isolates such rows.
 */
function isRowError(step: Step, err: unknown): boolean {
  const code = sqlstate(err);
  return (
    step.field === 'backfill.set' && code !== undefined && !isDefinitionError(err) && code !== LOCK_NOT_AVAILABLE && code !== QUERY_CANCELED
  );
}

/** The one-line error for a statement of the proof that PostgreSQL refused. */
function proofError(m: LoadedMigration, info: TableInfo, field: string, err: unknown, lockTimeoutMs: number): unknown {
  const code = sqlstate(err);
  if (code === undefined) return err;
  const nothing = 'nothing was changed (the trial was rolled back)';
  if (code === LOCK_NOT_AVAILABLE) {
    return new FerryError(
      'UNAVAILABLE',
      `migration "${m.name}": table ${info.quoted} is locked by another transaction; the trial of ${field} waited ${formatDuration(lockTimeoutMs)} ` +
        `(FERRY_LOCK_TIMEOUT) for its lock; ${nothing}. Run it again once that transaction ends (see pg_locks / pg_stat_activity).`,
    );
  }
  if (code === QUERY_CANCELED) {
    return new FerryError('UNAVAILABLE', `migration "${m.name}": the trial of ${field} did not finish within 60s; ${nothing}.`);
  }
  const e = err as { message: string; where?: string };
  // An error raised inside ferry's dual-write function comes from the trigger body, whatever fired it.
  const inTrigger = field !== 'dualWrite.body' && e.where !== undefined && e.where.includes(`dw_${m.name}`);
  return new FerryError(
    'INVALID_DEFINITION',
    `migration "${m.name}": ${inTrigger ? 'dualWrite.body' : field} failed in the trial: ${e.message} (SQLSTATE ${code}); ${nothing}. ` +
      'Fix the definition and run the command again.',
  );
}

async function timedBatch(client: PoolClient, m: LoadedMigration, info: TableInfo, expandedInTrial: boolean): Promise<Trial> {
  const b = m.definition.backfill;
  const statement = buildSetBatch(info, { where: b.where, set: b.set }, { lower: 0, upper: 0 });
  const started = process.hrtime.bigint();
  const { rows } = await client.query(statement.text, [b.batchSize]);
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  const rowsPerSec = ms > 0 ? Math.round((rows[0].scanned * 1000) / ms) : 0;
  return { ran: true, rows: rows[0].scanned, updated: rows[0].updated, ms: Math.round(ms * 10) / 10, rowsPerSec, expandedInTrial };
}
