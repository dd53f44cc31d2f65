/**
 * Helpers for backfill tests against a real PostgreSQL: a counted test table, migrations
 * registered in a map, activity environments that keep their heartbeats.
 */
import type { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import type pg from 'pg';
import type { BackfillChunkInput, ChunkResult, createBackfillActivities } from '../../src/activities/backfill';
import type { MigrationRef } from '../../src/activities/context';
import { validateDefinition, type MigrationDefinitionInput } from '../../src/definition/define';
import { specHash, type LoadedMigration } from '../../src/definition/registry';

/** The SDK logs every failed activity; tests that expect failures stay quiet. */
export const quiet = { logger: new DefaultLogger('ERROR', () => undefined) };

/** `count_touch()`: the trigger function that counts updates per row in `touches`. Once per database. */
export async function createTouchFunction(pool: pg.Pool): Promise<void> {
  await pool.query(`CREATE FUNCTION count_touch() RETURNS trigger LANGUAGE plpgsql AS
    $$ BEGIN NEW.touches := OLD.touches + 1; RETURN NEW; END $$`);
}

/** A table (id, raw json text, data to fill, touches) with rows `1..n`; `table` is SQL (may be quoted). */
export async function makeTable(pool: pg.Pool, table: string, n: number): Promise<void> {
  await pool.query(`CREATE TABLE ${table} (id bigint PRIMARY KEY, raw text, data jsonb, touches int NOT NULL DEFAULT 0)`);
  await pool.query(`CREATE TRIGGER touch BEFORE UPDATE ON ${table} FOR EACH ROW EXECUTE FUNCTION count_touch()`);
  await pool.query(`INSERT INTO ${table} (id, raw) SELECT g, json_build_object('n', g)::text FROM generate_series(1, $1::int) g`, [n]);
  await pool.query(`ANALYZE ${table}`);
}

type Backfill = Partial<MigrationDefinitionInput['backfill']>;

/** Registers a migration of `table` in `migrations` (default change: data = raw::jsonb where data IS NULL). */
export function register(
  migrations: Map<string, LoadedMigration>,
  name: string,
  table: string,
  backfill: Backfill = {},
  key?: string[],
): MigrationRef {
  const definition = validateDefinition(
    {
      table,
      key,
      expand: { up: 'SELECT 1', down: 'SELECT 1' },
      backfill: { where: 'data IS NULL', set: 'data = raw::jsonb', ...backfill },
      contract: { up: 'SELECT 1' },
    },
    name,
  );
  const loaded: LoadedMigration = { name, file: `${name}.ts`, definition, specHash: specHash(definition) };
  migrations.set(name, loaded);
  return { name, specHash: loaded.specHash };
}

/** A mock activity environment that keeps the heartbeats it receives. */
export function activityEnv(heartbeatTimeoutMs = 3000): { env: MockActivityEnvironment; beats: Record<string, unknown>[] } {
  const env = new MockActivityEnvironment({ heartbeatTimeoutMs }, quiet);
  const beats: Record<string, unknown>[] = [];
  env.on('heartbeat', (d) => beats.push(d));
  return { env, beats };
}

/** Runs `backfillChunk` of `acts` in `env` (typed: MockActivityEnvironment.run answers unknown). */
export function runChunk(
  env: MockActivityEnvironment,
  acts: ReturnType<typeof createBackfillActivities>,
  input: BackfillChunkInput,
): Promise<ChunkResult> {
  return env.run(acts.backfillChunk, input) as Promise<ChunkResult>;
}

/** How many rows were updated 0, 1, 2... times: `{ '1': 500 }` means all 500 exactly once. */
export async function touchHistogram(pool: pg.Pool, table: string, where = 'true'): Promise<Record<string, number>> {
  const { rows } = await pool.query(`SELECT touches, count(*)::int AS n FROM ${table} WHERE ${where} GROUP BY touches ORDER BY touches`);
  return Object.fromEntries(rows.map((r) => [String(r.touches), r.n]));
}

/** The failure `promise` rejects with; fails the test when it resolves. */
export function failureOf(promise: Promise<unknown>): Promise<ApplicationFailure> {
  return promise.then(
    () => Promise.reject(new Error('expected the activity to fail')),
    (e: ApplicationFailure) => e,
  );
}

/** Resolves after `ms`. */
export const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
