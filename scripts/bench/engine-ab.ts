/**
 * `npx tsx scripts/bench/engine-ab.ts --before DIR [--rows N] [--chunk-ms N] [--max-lock-ms N]`:
 * the backfill engine of another checkout (DIR, e.g. `git worktree add /tmp/base main`, with
 * node_modules) against this one's, on ONE database under the application load: chunks of
 * `--chunk-ms` alternate A B B A on the same partition (each chunk resumes from the checkpoint the
 * other left), so the machine's drift falls on both sides alike; far steadier on a shared machine
 * than comparing runs minutes apart. Prints each chunk and, on stdout, the rows/s of each side
 * without the first A B B A group (the batch sizers' cold start) and their ratio.
 */
import os from 'node:os';
import path from 'node:path';
import { Pool } from 'pg';
import type { BackfillEngine } from '../../src/engine/engine';
import { createBackfillEngine } from '../../src/engine/engine';
import { quietPort } from '../../src/engine/port';
import { guardConnections } from '../../src/pg/pool';
import { migrateStore } from '../../src/store/migrate';
import { createTemplate, dropDatabases } from './databases';
import { variantMigration, type EngineVariant } from './engine-run';
import { interleaved } from './interleaved';
import { log } from './log';

const ADMIN_URL = process.env.FERRY_BENCH_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

type Side = 'before' | 'after';

/** One chunk of the alternation. */
interface ChunkSample {
  i: number;
  side: Side;
  rows: number;
  ms: number;
  transactions: number;
}

/** The engine and the definition of the checkout at `dir` (its own src/, loaded beside this one's). */
function loadBefore(dir: string, pool: Pool, variant: EngineVariant) {
  const engine = require(path.resolve(dir, 'src/engine/engine')) as { createBackfillEngine: typeof createBackfillEngine };
  const run = require(path.resolve(dir, 'scripts/bench/engine-run')) as { variantMigration: typeof variantMigration };
  return { engine: engine.createBackfillEngine({ pool }), migration: run.variantMigration('bench-engine', variant) };
}

/** A B B A: chunk `i` runs on the 'before' side when `i mod 4` is 0 or 3. */
const sideOf = (i: number): Side => (i % 4 === 0 || i % 4 === 3 ? 'before' : 'after');

/** Runs chunks alternately on both engines until the partition is done; the samples, without the last (short) chunk. */
async function alternate(url: string, dir: string, variant: EngineVariant, chunkMs: number): Promise<ChunkSample[]> {
  const pool = new Pool({ connectionString: url, max: 6, application_name: 'ferry-bench-engine' });
  guardConnections(pool);
  try {
    await migrateStore(pool);
    const before = loadBefore(dir, pool, variant);
    const after = { engine: createBackfillEngine({ pool }), migration: variantMigration('bench-engine', variant) };
    if (before.migration.specHash !== after.migration.specHash) throw new Error(`${dir}: its bench migration differs from this one's`);
    const sides: Record<Side, { engine: BackfillEngine; migration: typeof after.migration }> = { before, after };
    const ref = { name: after.migration.name, specHash: after.migration.specHash, runId: 'bench' };
    await after.engine.initBackfill(after.migration, { ...ref, pass: 1 });
    const samples: ChunkSample[] = [];
    for (let i = 0, done = false; !done; i++) {
      const side = sides[sideOf(i)];
      const tx0 = await transactions(pool);
      const t0 = Date.now();
      const r = await side.engine.runChunk(side.migration, { ...ref, partition: 0, maxMs: chunkMs }, quietPort());
      const sample = { i, side: sideOf(i), rows: r.rowsScanned, ms: Date.now() - t0, transactions: (await transactions(pool)) - tx0 };
      log(`${JSON.stringify(sample)} load ${os.loadavg()[0].toFixed(1)}`);
      done = r.done;
      if (!done) samples.push(sample);
    }
    return samples;
  } finally {
    await pool.end();
  }
}

/** Transactions committed so far (each advances the checkpoint once). */
async function transactions(pool: Pool): Promise<number> {
  return (await pool.query(`SELECT sum(batches)::int AS tx FROM ferry.backfill_checkpoints`)).rows[0].tx;
}

/** Rows/s and rows per transaction of one side over `samples`. */
function rate(samples: ChunkSample[], side: Side) {
  const mine = samples.filter((s) => s.side === side);
  const rows = mine.reduce((n, s) => n + s.rows, 0);
  const ms = mine.reduce((n, s) => n + s.ms, 0);
  const tx = mine.reduce((n, s) => n + s.transactions, 0);
  return { chunks: mine.length, rowsPerSec: Math.round((rows * 1000) / ms), rowsPerTransaction: Math.round(rows / tx) };
}

function arg(argv: string[], flag: string, fallback?: string): string {
  const i = argv.indexOf(flag);
  const value = i >= 0 ? argv[i + 1] : fallback;
  if (value === undefined) throw new Error(`${flag} is required: the directory of the checkout to compare with`);
  return value;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const dir = arg(argv, '--before');
  const rows = Number(arg(argv, '--rows', '1500000'));
  const maxLockMs = Number(arg(argv, '--max-lock-ms', '25'));
  const stamp = Date.now().toString(36);
  const template = `ferry_ab_${stamp}_template`;
  const s = { adminUrl: ADMIN_URL, template, rows, appRate: 400, appConnections: 4, appMaxSeconds: 900, baselineSeconds: 2 };
  log(`generating ${rows} rows; load average ${os.loadavg()[0].toFixed(1)}`);
  await createTemplate(ADMIN_URL, template, rows);
  try {
    let samples: ChunkSample[] = [];
    const variant = { label: `maxLockMs ${maxLockMs}`, backfill: { maxLockMs } };
    const outDir = path.join(__dirname, '..', '..', 'bench-results');
    await interleaved({ ...s, outDir }, `ferry_ab_${stamp}`, async (url) => {
      const startMs = Date.now();
      samples = await alternate(url, dir, variant, Number(arg(argv, '--chunk-ms', '2000')));
      return { startMs, endMs: Date.now() };
    });
    const steady = samples.filter((x) => x.i >= 4);
    const before = rate(steady, 'before');
    const after = rate(steady, 'after');
    console.log(
      JSON.stringify({ rows, maxLockMs, before, after, afterOverBefore: Math.round((after.rowsPerSec / before.rowsPerSec) * 1000) / 1000 }),
    );
  } finally {
    await dropDatabases(ADMIN_URL, [template]);
  }
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
