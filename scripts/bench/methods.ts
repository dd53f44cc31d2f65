/**
 * The two baselines ferry is measured against, both with the backfill statement of
 * `migrations/examples/posts-member-uuid.ts`: (a) one UPDATE of the whole table, (b) the keyset
 * loop a user would write by hand.
 */
import example from '../../migrations/examples/posts-member-uuid';
import { withClient } from './databases';
import { sleep } from './log';
import { median, percentile } from './stats';

const { where, set, batchSize } = example.backfill;
if (set === undefined) throw new Error('migrations/examples/posts-member-uuid.ts no longer has backfill.set');

/** The example's batch size, which the hand loop uses too. */
export const BATCH_SIZE = batchSize;

/** (a): the whole backfill in one statement, one transaction. */
export const SINGLE_UPDATE = `UPDATE posts SET ${set} WHERE ${where}`;

/**
 * (b): one batch; `$1` the last id done, `$2` the batch size. Run in autocommit, so each batch is
 * its own transaction: one round trip per batch.
 */
export const HAND_LOOP_BATCH = `WITH batch AS (SELECT id FROM posts WHERE id > $1::bigint ORDER BY id LIMIT $2::int),
 updated AS (UPDATE posts SET ${set} WHERE id IN (SELECT id FROM batch) AND (${where}) RETURNING 1)
SELECT (SELECT max(id) FROM batch)::text AS last_id, (SELECT count(*) FROM batch)::int AS scanned,
 (SELECT count(*) FROM updated)::int AS updated`;

/** What a backfill method did and how long it took. */
export interface MethodResult {
  seconds: number;
  rowsScanned: number;
  rowsUpdated: number;
  rowsPerSec: number;
}

/** One committed batch of the hand loop: when it ended (epoch ms), its duration and its rows. */
export interface BatchSample {
  endMs: number;
  ms: number;
  rows: number;
}

export interface HandLoopResult extends MethodResult {
  startMs: number;
  endMs: number;
  batches: number;
  batchSize: number;
  batchMsMedian: number;
  batchMsP99: number;
  samples: BatchSample[];
}

/** Runs (a) on the database at `url`. */
export async function singleUpdate(url: string): Promise<MethodResult> {
  return withClient(url, async (db) => {
    const t0 = performance.now();
    const r = await db.query(SINGLE_UPDATE);
    const seconds = (performance.now() - t0) / 1000;
    const rows = r.rowCount ?? 0;
    return { seconds, rowsScanned: rows, rowsUpdated: rows, rowsPerSec: rows / seconds };
  });
}

/** Runs (b) on the database at `url`: batches of `BATCH_SIZE` by `ORDER BY id LIMIT n` until the table ends. */
export function handLoop(url: string): Promise<HandLoopResult> {
  return pacedHandLoop(url, { batchSize: BATCH_SIZE, duty: 1 });
}

/** How `pacedHandLoop` goes: rows a statement, its duty cycle, and its commits' `synchronous_commit` (default on, as a session has it). */
export interface Pacing {
  batchSize: number;
  duty: number;
  synchronousCommit?: 'on' | 'off';
}

/**
 * The hand loop with `batchSize` rows a statement and, below a `duty` of 1, a rest after each
 * batch of `batchMs × (1 − duty) / duty` (a fixed duty cycle: `engine-sweep.ts --set pacing`
 * compares how the application fares with small and large batches at the same duty, `--set
 * shape` also with `synchronous_commit` off).
 */
export async function pacedHandLoop(url: string, pacing: Pacing): Promise<HandLoopResult> {
  const { batchSize, duty } = pacing;
  return withClient(url, async (db) => {
    await db.query(`SET synchronous_commit = ${pacing.synchronousCommit === 'off' ? 'off' : 'on'}`);
    const samples: BatchSample[] = [];
    let last = '0';
    let scanned = 0;
    let updated = 0;
    const startMs = Date.now();
    const t0 = performance.now();
    for (;;) {
      const b0 = performance.now();
      const r = (await db.query(HAND_LOOP_BATCH, [last, batchSize])).rows[0];
      const ms = performance.now() - b0;
      samples.push({ endMs: Date.now(), ms, rows: r.scanned });
      scanned += r.scanned;
      updated += r.updated;
      if (r.scanned < batchSize) break;
      last = r.last_id;
      if (duty < 1) await sleep((ms * (1 - duty)) / duty);
    }
    const seconds = (performance.now() - t0) / 1000;
    const ms = samples.map((s) => s.ms);
    return {
      seconds,
      rowsScanned: scanned,
      rowsUpdated: updated,
      rowsPerSec: scanned / seconds,
      startMs,
      endMs: Date.now(),
      batches: samples.length,
      batchSize,
      batchMsMedian: median(ms),
      batchMsP99: percentile(ms, 0.99),
      samples,
    };
  });
}
