/**
 * ferry steps inside `typeorm migration:run`: a TypeORM migration class whose `up` starts a ferry
 * migration and waits for a phase, and whose `down` aborts it with rollback before its contract.
 */
import type { MigrationInterface, QueryRunner } from 'typeorm';
import { FerryError } from '../contract/errors';
import type { PhaseTarget } from '../contract/phases';
import type { Progress } from '../contract/progress';
import { ROLLBACK_WORKFLOW } from '../contract/workflow';
import { defaultActor } from '../config';
import { loadMigration, migrationsDir } from '../definition/registry';
import { connectClient, type FerryClient } from '../client/connect';
import { findMigration } from '../client/control';
import { parseWaitFor, waitForPhase } from '../client/list';
import { abortMigration, latestRun } from '../client/recover';
import { startMigration } from '../client/start';

/** Options of `ferryMigration`. */
export interface FerryMigrationOptions {
  /**
   * The phase `typeorm migration:run` waits for before it records the migration and goes on:
   * `'expanded'` (the default: expand is done, deploy the code that writes both shapes next), any
   * phase (`'awaiting-approval'`, `'completed'`), or `false` to return once it is started.
   */
  waitFor?: PhaseTarget | false;
  /** The directory of ferry's migration files; default `FERRY_MIGRATIONS`, else `./migrations`. */
  migrations?: string;
  /** Who runs it, for ferry's audit trail; default `FERRY_USER`, else `user@host`. */
  by?: string;
}

/** Runs `fn` with a Temporal client (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, FERRY_TASK_QUEUE), always closing it. */
async function withClient<T>(fn: (fc: FerryClient) => Promise<T>): Promise<T> {
  const fc = await connectClient();
  try {
    return await fn(fc);
  } finally {
    await fc.close();
  }
}

const log = (line: string) => console.log(`ferry: ${line}`);

/**
 * A TypeORM migration class that runs ferry migration `name` (a file of `FERRY_MIGRATIONS`) from
 * `typeorm migration:run`, with `transaction = false`: TypeORM runs it outside a transaction when the
 * DataSource has `migrationsTransactionMode: 'each'` (or `'none'`; with the default `'all'` TypeORM
 * refuses any migration that sets `transaction`), or with `typeorm migration:run -t each`.
 *
 * `up` starts the migration idempotently — its workflow id is `migration/<name>`, so two deploys
 * (or two instances deploying at once) run one migration — and waits for `waitFor`; TypeORM then
 * records it in its migrations table. `down` (`typeorm migration:revert`) aborts it with rollback
 * (ferry's trigger dropped, `expand.down` run by a worker) while the contract has not started, and
 * refuses once it has: the old shape is gone, and TypeORM keeps the migration recorded.
 *
 * @example
 * // src/migrations/1732900000000-UsersDisplayName.ts
 * import { ferryMigration } from 'ferry/typeorm';
 * export class UsersDisplayName1732900000000 extends ferryMigration('users-display-name', { waitFor: 'expanded' }) {}
 */
export function ferryMigration(name: string, opts: FerryMigrationOptions = {}): new () => MigrationInterface {
  const waitFor = opts.waitFor === false ? undefined : parseWaitFor(opts.waitFor ?? 'expanded');
  return class FerryMigration implements MigrationInterface {
    readonly transaction = false;

    async up(queryRunner: QueryRunner): Promise<void> {
      if (queryRunner.isTransactionActive) {
        throw new FerryError(
          'BAD_INPUT',
          `ferry migration "${name}" must run outside a transaction (it waits for a worker), but TypeORM opened one; ` +
            `set migrationsTransactionMode: 'each' in the DataSource or run "typeorm migration:run -t each". Nothing was started.`,
        );
      }
      const migration = loadMigration(name, migrationsDir(opts.migrations));
      await withClient(async (fc) => {
        const by = opts.by ?? defaultActor();
        const result = await startMigration(fc, migration, { startedBy: by });
        if (result.previousRun) log(`${result.previousRun}; starting a new run.`);
        log(
          `migration ${name} ${result.status.replace('-', ' ')} (spec ${migration.specHash})${waitFor ? `; waiting for ${waitFor}` : ''}`,
        );
        if (waitFor) log(`migration ${name} is now ${await waitForPhase(fc, name, waitFor)}`);
      });
    }

    async down(): Promise<void> {
      await withClient((fc) => revert(fc, name, opts));
    }
  };
}

/** `typeorm migration:revert` of a ferry migration: abort with rollback before the contract, refuse after. */
async function revert(fc: FerryClient, name: string, opts: FerryMigrationOptions): Promise<void> {
  const found = await findMigration(fc, name);
  if (!found) {
    throw new FerryError(
      'NOT_FOUND',
      `ferry migration "${name}" is not known to Temporal (namespace "${fc.config.namespace}"), so there is nothing to abort; ` +
        'check TEMPORAL_ADDRESS and TEMPORAL_NAMESPACE. Nothing was reverted.',
    );
  }
  const run = latestRun(found);
  if (await rolledBack(found.handle, run)) {
    log(`migration ${name} is already aborted and rolled back`);
    return;
  }
  if (run.phase === 'contracting' || run.phase === 'completed') {
    throw new FerryError(
      'CONFLICT',
      `ferry migration "${name}" is ${run.phase}: its contract drops the old shape, so "typeorm migration:revert" cannot undo it. ` +
        'Nothing was reverted and TypeORM keeps the migration recorded; write a new migration to go back.',
    );
  }
  const by = opts.by ?? defaultActor();
  let definition;
  try {
    definition = loadMigration(name, migrationsDir(opts.migrations));
  } catch {
    definition = undefined; // a worker rolls back the definition the run was started with
  }
  const outcome = await abortMigration(fc, name, { by, reason: 'typeorm migration:revert', rollback: true }, definition);
  if (outcome.kind === 'update') {
    const done = (await found.handle.result()) as Progress;
    if (done.phase !== 'aborted')
      throw new FerryError('FAILED', `ferry migration "${name}" ended ${done.phase}, not aborted; see "ferry status ${name}".`);
  }
  log(`migration ${name} aborted and rolled back (expand.down ran, ferry's trigger dropped)`);
}

/** Whether the latest run already ended aborted with its rollback done. */
async function rolledBack(handle: { result(): Promise<unknown> }, run: ReturnType<typeof latestRun>): Promise<boolean> {
  if (run.status !== 'COMPLETED' || run.phase !== 'aborted') return false;
  if (run.type === ROLLBACK_WORKFLOW) return true;
  const result = (await handle.result().catch(() => undefined)) as Progress | undefined;
  return result?.abort?.rollback === true;
}
