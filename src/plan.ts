import type { Pool, PoolClient } from 'pg';
import { describeTable, type TableInfo } from './pg/catalog';
import { sqlstate } from './pg/errors';
import { RollbackWith, withTransaction } from './pg/transaction';
import type { LoadedMigration } from './definition/registry';
import { buildSetBatch } from './sql/backfill';
import { createFunctionSql, createTriggerSql, dropTriggerSql } from './sql/dual-write';

/** What `ferry plan` reports: the DDL in order, the size of the job and how long it should take. */
export interface Plan {
  name: string;
  table: string;
  specHash: string;
  key: string[];
  estimatedRows: number;
  ddl: { expand: string[]; contract: string[]; rollback: string[] };
  trial: Trial;
  /** Seconds for the whole backfill at the trial's rate (one partition), or null without a trial. */
  etaSeconds: number | null;
  deadline?: { seconds: number; meets: boolean };
}

/** One batch measured in a transaction that is rolled back. */
export type Trial =
  { ran: true; rows: number; updated: number; ms: number; rowsPerSec: number; expandedInTrial: boolean } | { ran: false; reason: string };

/** Column or table not there yet: the batch needs expand first. */
const NEEDS_EXPAND = new Set(['42703', '42P01']);

/**
 * Plans a migration without changing anything: validates it against the catalog, lists its DDL,
 * estimates rows from statistics and measures one batch inside a transaction that is rolled back
 * (under a 1 s lock_timeout). If the batch needs the expand first, the expand runs inside that
 * transaction too, and the plan says the table's lock was held for the trial. `process()`
 * migrations are not trialled: their code may have side effects outside the database.
 * @example const plan = await planMigration(pool, loadMigration('posts-member-uuid'), { deadlineMs: 3 * 86400e3 });
 */
export async function planMigration(pool: Pool, m: LoadedMigration, opts: { deadlineMs?: number; trial?: boolean } = {}): Promise<Plan> {
  const d = m.definition;
  const info = await describeTable(pool, d.table, d.key);
  const trial: Trial =
    opts.trial === false
      ? { ran: false, reason: 'skipped (--no-trial)' }
      : d.backfill.set === undefined
        ? { ran: false, reason: 'process() may have side effects outside the database' }
        : await trialBatch(pool, m, info);
  const etaSeconds = trial.ran && trial.rowsPerSec > 0 ? Math.ceil(info.estimatedRows / trial.rowsPerSec) : null;
  return {
    name: m.name,
    table: info.quoted,
    specHash: m.specHash,
    key: info.key.map((k) => k.name),
    estimatedRows: info.estimatedRows,
    ddl: ddlOf(m, info.quoted),
    trial,
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

/** The trial, in a transaction that is always rolled back. */
async function trialBatch(pool: Pool, m: LoadedMigration, info: TableInfo): Promise<Trial> {
  const settings = { lock_timeout: '1s', statement_timeout: '60s' };
  return withTransaction(pool, async (client) => new RollbackWith(await trialInTransaction(client, m, info)), { settings });
}

async function trialInTransaction(client: PoolClient, m: LoadedMigration, info: TableInfo): Promise<Trial> {
  await client.query('SAVEPOINT ferry_trial');
  try {
    return await timedBatch(client, m, info, false);
  } catch (err) {
    if (!NEEDS_EXPAND.has(sqlstate(err) ?? '')) throw err;
    await client.query('ROLLBACK TO SAVEPOINT ferry_trial');
    for (const statement of m.definition.expand.up) await client.query(statement);
    return await timedBatch(client, m, info, true);
  }
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
