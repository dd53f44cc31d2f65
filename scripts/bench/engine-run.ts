/**
 * The backfill engine run in the bench's own process, without Temporal: the example's backfill
 * with settings overridden (`maxLockMs`, `synchronousCommit`, a latency budget), so that many
 * settings can be compared in the time of one end-to-end run. The engine is the one a worker runs
 * (`createBackfillEngine`): the same batches, transactions, checkpoints, health checks and canary;
 * what it leaves out is Temporal's part (scheduling chunks, heartbeats to the server), which costs
 * little at one chunk per partition (see `ferry.overhead` in the full bench).
 */
import { Pool } from 'pg';
import example from '../../migrations/examples/posts-member-uuid';
import { authorInput, specHash } from '../../src/definition/spec-hash';
import { validateDefinition, type MigrationDefinitionInput } from '../../src/definition/define';
import type { LoadedMigration } from '../../src/definition/registry';
import { createBackfillEngine } from '../../src/engine/engine';
import { quietPort } from '../../src/engine/port';
import type { EngineOptions } from '../../src/engine/resources';
import { guardConnections } from '../../src/pg/pool';
import { migrateStore } from '../../src/store/migrate';

/** What an engine run changes from the example's backfill. */
export interface EngineVariant {
  /** A label for logs and the JSON, e.g. `maxLockMs 25`. */
  label: string;
  backfill?: Partial<MigrationDefinitionInput['backfill']>;
  /** The engine's options (e.g. the latency budget's loop: `{ latency: { lockMs: { maxLockMs: 25, minLockMs: 2 } } }`). */
  engine?: EngineOptions;
}

/** What one engine run measured. */
export interface EngineRun {
  label: string;
  startMs: number;
  endMs: number;
  seconds: number;
  rows: number;
  rowsPerSec: number;
  transactions: number;
  batches: number;
  throttledMs: number;
  throttleReason?: string;
}

/** The example's definition with `variant.backfill` over its backfill section. */
export function variantMigration(name: string, variant: EngineVariant): LoadedMigration {
  const input = authorInput(example) as MigrationDefinitionInput;
  const definition = validateDefinition({ ...input, backfill: { ...input.backfill, ...variant.backfill } }, name);
  return { name, file: `${name}.ts`, definition, specHash: specHash(definition) };
}

/** Runs the example's backfill with `variant` on the database at `url` (ferry's store installed here) to the end. */
export async function runEngine(url: string, variant: EngineVariant): Promise<EngineRun> {
  const pool = new Pool({ connectionString: url, max: 6, application_name: 'ferry-bench-engine' });
  guardConnections(pool);
  try {
    await migrateStore(pool);
    const migration = variantMigration('bench-engine', variant);
    const engine = createBackfillEngine({ pool }, variant.engine);
    const ref = { name: migration.name, specHash: migration.specHash, runId: 'bench' };
    await engine.initBackfill(migration, { ...ref, pass: 1 });
    const startMs = Date.now();
    let batches = 0;
    let throttledMs = 0;
    let throttleReason: string | undefined;
    for (let done = false; !done;) {
      const r = await engine.runChunk(migration, { ...ref, partition: 0, maxMs: 120_000 }, quietPort());
      batches += r.batches;
      throttledMs += r.throttledMs;
      throttleReason = r.throttleReason ?? throttleReason;
      done = r.done;
    }
    const endMs = Date.now();
    const totals = (await pool.query(`SELECT sum(rows_scanned)::float8 AS rows, sum(batches)::int AS tx FROM ferry.backfill_checkpoints`))
      .rows[0];
    const seconds = (endMs - startMs) / 1000;
    return {
      label: variant.label,
      startMs,
      endMs,
      seconds,
      rows: totals.rows,
      rowsPerSec: totals.rows / seconds,
      transactions: totals.tx,
      batches,
      throttledMs,
      throttleReason,
    };
  } finally {
    await pool.end();
  }
}
