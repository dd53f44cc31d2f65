import type { Pool, PoolClient } from 'pg';
import type { InitBackfillInput } from '../contract/activities';
import type { MigrationDefinition } from '../definition/define';
import { describeTable, type TableInfo } from '../pg/catalog';
import { withTransaction } from '../pg/transaction';
import { buildFirstKeySpan, buildLastKey, buildSampleKeys } from '../sql/backfill';
import { countPartitions, insertPartition, lockRun, resetPass } from '../store/checkpoints';
import { sameKey } from './cursor';

/**
 * A run's partitions: contiguous ranges of the key, each with its own checkpoint row, so that
 * `backfill.concurrency` chunks run side by side without ever touching the same row. A pass ends
 * at the table's last key when it starts: rows inserted after that were written in both shapes
 * (the dual write is in place before the backfill starts), and a backfill that chased them would
 * never end on a table that takes inserts faster than it goes. Verify still checks every row, and
 * its catch-up pass ends at the last key of its own start.
 */

/** A partition's bounds: lower exclusive, upper inclusive, each a (possibly partial) key or null. */
export interface PartitionBounds {
  lower: string[] | null;
  upper: string[] | null;
}

/**
 * Creates the run's partitions (checkpoint rows) unless they exist; a greater `pass` restarts
 * every partition from the beginning, keeping the counters. Safe to run twice: one transaction
 * under the run's lock.
 * @example await initPartitions(pool, definition, { name, specHash, runId, pass: 1 })
 */
export async function initPartitions(
  pool: Pool,
  definition: MigrationDefinition,
  input: InitBackfillInput,
): Promise<{ partitions: number; rowsEstimated: number }> {
  const table = await describeTable(pool, definition.table, definition.key);
  const partitions = await withTransaction(pool, async (client) => {
    await lockRun(client, input);
    const existing = await countPartitions(client, input);
    const lastKey = await readLastKey(client, table);
    if (existing > 0) {
      await resetPass(client, input, input.pass, lastKey);
      return existing;
    }
    // An empty table has nothing to backfill: its one partition starts done (rows come dual-written).
    const bounds = endAt(await splitKeyRange(client, table, definition.backfill.concurrency), lastKey);
    for (const [partition, b] of bounds.entries()) await insertPartition(client, { ...input, partition }, input.pass, b, lastKey === null);
    return bounds.length;
  });
  return { partitions, rowsEstimated: table.estimatedRows };
}

/** The table's last key now, or null when it is empty. */
async function readLastKey(db: Pool | PoolClient, table: TableInfo): Promise<string[] | null> {
  const { rows } = await db.query(buildLastKey(table).text);
  return rows[0]?.key ?? null;
}

/**
 * The partitions with the last one ending at `lastKey` (inclusive) instead of open-ended; as they
 * were when the table is empty (null: the caller marks the one partition done).
 * @example endAt([{ lower: null, upper: null }], ['500']) // [{ lower: null, upper: ['500'] }]
 */
export function endAt(bounds: PartitionBounds[], lastKey: string[] | null): PartitionBounds[] {
  if (!lastKey) return bounds;
  return bounds.map((b, i) => (i === bounds.length - 1 ? { ...b, upper: lastKey } : b));
}

const INTEGER_TYPES = ['smallint', 'integer', 'bigint'];

/**
 * Splits the key range into `n` contiguous partitions that cover every key exactly once: evenly
 * over min..max of the first key column when it is an integer, else at quantiles of a
 * `TABLESAMPLE` of keys. Fewer partitions come back when the table has too few distinct keys.
 */
export async function splitKeyRange(db: Pool | PoolClient, table: TableInfo, n: number): Promise<PartitionBounds[]> {
  if (n <= 1) return [{ lower: null, upper: null }];
  const cuts = INTEGER_TYPES.includes(table.key[0].type) ? await integerCuts(db, table, n) : await sampledCuts(db, table, n);
  return boundsFromCuts(cuts);
}

/**
 * Partitions from ascending cut points: (-∞, c1], (c1, c2], ..., (c_last, +∞).
 * @example boundsFromCuts([['25']]) // [{ lower: null, upper: ['25'] }, { lower: ['25'], upper: null }]
 */
export function boundsFromCuts(cuts: string[][]): PartitionBounds[] {
  const bounds: PartitionBounds[] = [];
  for (let i = 0; i <= cuts.length; i++) {
    bounds.push({ lower: i === 0 ? null : cuts[i - 1], upper: i === cuts.length ? null : cuts[i] });
  }
  return bounds;
}

async function integerCuts(db: Pool | PoolClient, table: TableInfo, n: number): Promise<string[][]> {
  const { rows } = await db.query(buildFirstKeySpan(table).text);
  if (rows[0].min === null) return [];
  return evenCuts(BigInt(rows[0].min), BigInt(rows[0].max), n).map((c) => [c.toString()]);
}

/**
 * `n - 1` distinct ascending cuts in [min, max) that split min..max into `n` near-equal spans.
 * @example evenCuts(1n, 100n, 4) // [25n, 50n, 75n]
 */
export function evenCuts(min: bigint, max: bigint, n: number): bigint[] {
  const span = max - min + 1n;
  const cuts: bigint[] = [];
  for (let i = 1n; i < BigInt(n); i++) {
    const cut = min + (span * i) / BigInt(n) - 1n;
    if (cut >= min && cut < max && (cuts.length === 0 || cut > cuts[cuts.length - 1])) cuts.push(cut);
  }
  return cuts;
}

const SAMPLE_TARGET_ROWS = 20_000;

/** Cuts at quantiles of a `TABLESAMPLE` of about `SAMPLE_TARGET_ROWS` keys, duplicates dropped. */
export async function sampledCuts(db: Pool | PoolClient, table: TableInfo, n: number): Promise<string[][]> {
  const percent = Math.min(100, (100 * SAMPLE_TARGET_ROWS) / Math.max(table.estimatedRows, 1));
  const { rows } = await db.query(buildSampleKeys(table).text, [percent]);
  const keys: string[][] = rows.map((r) => r.key);
  const cuts: string[][] = [];
  for (let i = 1; i < n; i++) {
    const cut = keys[Math.floor((keys.length * i) / n)];
    const prev = cuts[cuts.length - 1];
    if (cut && (!prev || !sameKey(prev, cut))) cuts.push(cut);
  }
  return cuts;
}
