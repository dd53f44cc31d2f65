import { activityInfo, ApplicationFailure, heartbeat } from '@temporalio/activity';
import type { Pool } from 'pg';
import type { MigrationRef } from '../contract/activities';
import { FerryError } from '../contract/errors';
import type { MigrationDefinition } from '../definition/define';
import { acceptsSpecHash, type LoadedMigration } from '../definition/registry';
import type { FerryMetrics } from '../metrics';
import { describeTable, type TableInfo } from '../pg/catalog';
import type { DdlOptions } from '../pg/ddl';
import { parseTableName, quoteTable } from '../pg/quote';

/**
 * What every activity shares: the worker's dependencies, and `withMigration`, the one preamble
 * (look-up, spec check, table description, DDL options, error mapping) every activity runs in.
 */

/** What every activity factory receives: the worker's pool and the migrations it can run. */
export interface ActivityDeps {
  pool: Pool;
  migrations: Map<string, LoadedMigration>;
  /** Rescans the migrations directory into `migrations` (a worker has it; tests may not). */
  reload?: () => void;
  /** Migrations whose file does not load, with the error (name → message), kept up to date by `reload`. */
  broken?: Map<string, string>;
  /** Worker-side log; never shipped to Temporal. */
  log?: (message: string, fields?: Record<string, unknown>) => void;
  /** Prometheus metrics (`FERRY_METRICS_PORT`); absent: nothing is recorded. */
  metrics?: FerryMetrics;
}

export type { MigrationRef } from '../contract/activities';

/** The migration an activity works on, as `withMigration` hands it over. */
export interface ActiveMigration {
  migration: LoadedMigration;
  definition: MigrationDefinition;
  /** `"schema"."name"` of its table, without touching the catalog (the table may be gone after contract). */
  table: string;
  /** The table from the catalog: key, types, estimated rows. Definition errors fail for good. */
  describe(): Promise<TableInfo>;
  /** Options for `runDdl` on its table: the worker's log, a heartbeat on each lock retry, `extra` on top. */
  ddl(extra?: DdlOptions): DdlOptions;
}

/**
 * The preamble of every migration activity: finds the worker's definition of `ref` (checked
 * against the spec hash it was started with), runs `body` with it, and turns a FerryError into the
 * Temporal failure its code calls for.
 * @example async expand(ref) { return withMigration(deps, ref, async (m) => runDdl(deps.pool, m.definition.expand.up, m.ddl())) }
 */
export async function withMigration<T>(deps: ActivityDeps, ref: MigrationRef, body: (m: ActiveMigration) => Promise<T>): Promise<T> {
  return asActivity(async () => {
    const migration = getMigration(deps, ref);
    const definition = migration.definition;
    const table = quotedTable(definition);
    return body({
      migration,
      definition,
      table,
      describe: () => describeTarget(deps.pool, definition),
      ddl: (extra) => ({ log: deps.log, onRetry: (r) => heartbeat(r), table, ...extra }),
    });
  });
}

/**
 * Runs `body` (DDL that may wait on a lock, or any statement that can run long) while heartbeating
 * at once and then four times per heartbeat timeout (at most every 5 s), so that a worker that
 * dies is noticed after the heartbeat timeout. Heartbeats carry counts only: `{ elapsedMs }`.
 * @example return withHeartbeat(() => runDdl(pool, statements, m.ddl()))
 */
export async function withHeartbeat<T>(body: () => Promise<T>): Promise<T> {
  const timeoutMs = activityInfo().heartbeatTimeoutMs;
  const everyMs = Math.max(200, Math.min(5000, Math.floor((timeoutMs || 20_000) / 4)));
  const started = Date.now();
  const beat = () => heartbeat({ elapsedMs: Date.now() - started });
  beat();
  const timer = setInterval(beat, everyMs);
  try {
    return await body();
  } finally {
    clearInterval(timer);
  }
}

/**
 * Runs an activity body that needs no migration definition, mapping errors as `withMigration` does.
 * @example return asActivity(() => engine.status(input))
 */
export async function asActivity<T>(body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (err) {
    throw toFailure(err);
  }
}

/**
 * The worker's definition of `ref.name`, checked against the spec hash the workflow was started
 * with. On a miss the worker rescans its directory once; still unknown or different, the task is
 * retried (a worker deployed with the right file picks it up: during a rolling deploy an old
 * worker may see a migration first), and after the retries the migration pauses with the error.
 */
export function getMigration(deps: ActivityDeps, ref: MigrationRef): LoadedMigration {
  const known = deps.migrations.get(ref.name);
  if (!known || !acceptsSpecHash(known, ref.specHash)) deps.reload?.();
  const migration = deps.migrations.get(ref.name);
  const broken = deps.broken?.get(ref.name);
  if (!migration && broken) {
    throw new FerryError(
      'UNKNOWN_MIGRATION',
      `migration "${ref.name}" does not load on this worker: ${broken} Fix the file; the next retry loads it again.`,
    );
  }
  if (!migration) {
    throw new FerryError(
      'UNKNOWN_MIGRATION',
      `migration "${ref.name}" is not known to this worker; deploy its file to FERRY_MIGRATIONS and restart the worker.`,
    );
  }
  if (!acceptsSpecHash(migration, ref.specHash)) {
    throw new FerryError(
      'SPEC_MISMATCH',
      `migration "${ref.name}" on this worker has spec ${migration.specHash}, but it was started with ${ref.specHash}; ` +
        'deploy the definition it was started with, or abort it and start it again.',
    );
  }
  return migration;
}

/**
 * Turns a FerryError into the Temporal failure its code calls for (`ERROR_RULES` in
 * src/contract/errors.ts); other errors pass through and are retried.
 */
export function toFailure(err: unknown): unknown {
  if (err instanceof FerryError) {
    return err.retryable ? ApplicationFailure.retryable(err.message, err.code) : ApplicationFailure.nonRetryable(err.message, err.code);
  }
  return err;
}

/**
 * `"schema"."name"` of the migration's table, without touching the catalog.
 * @throws FerryError INVALID_DEFINITION when `table` is not a table name.
 */
export function quotedTable(def: MigrationDefinition): string {
  try {
    return quoteTable(parseTableName(def.table));
  } catch (err) {
    throw new FerryError('INVALID_DEFINITION', `${(err as Error).message} Fix "table" in the migration.`);
  }
}

/**
 * The migration's table from the catalog. A key override naming a missing column is a definition
 * error (INVALID_DEFINITION), so it is not retried.
 * @example const info = await describeTarget(pool, migration.definition)
 */
export async function describeTarget(pool: Pool, def: MigrationDefinition): Promise<TableInfo> {
  try {
    return await describeTable(pool, def.table, def.key);
  } catch (err) {
    if (err instanceof FerryError && err.code === 'BAD_INPUT') throw new FerryError('INVALID_DEFINITION', err.message);
    throw err;
  }
}
