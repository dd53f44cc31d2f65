/**
 * The two baselines ferry is measured against, both with the backfill statement of
 * `migrations/examples/posts-member-uuid.ts`: (a) one UPDATE of the whole table, (b) the keyset
 * loop a user would write by hand.
 */
import example from '../../migrations/examples/posts-member-uuid';
import type { Client } from 'pg';
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

/**
 * The hand loop's batch with a checkpoint in the same statement, as ferry's batch transaction
 * could be in one round trip: the partition's lock (an advisory lock), the rows, and the
 * checkpoint's advance guarded by its batch count (`$3`) — so each batch is the transaction
 * ferry's takes three round trips for. A measure of what that design would cost (`engine-sweep.ts
 * --set shape`), not ferry's code: ferry's advance also raises when the guard fails.
 */
export const CHECKPOINTED_BATCH = `WITH lock AS (SELECT pg_advisory_xact_lock(7215) AS locked),
 batch AS (SELECT id FROM posts, lock WHERE id > $1::bigint ORDER BY id LIMIT $2::int),
 updated AS (UPDATE posts SET ${set} WHERE id IN (SELECT id FROM batch) AND (${where}) RETURNING 1),
 advanced AS (UPDATE bench_checkpoint c SET last_id = COALESCE((SELECT max(id) FROM batch), c.last_id),
   batches = c.batches + 1, scanned = c.scanned + (SELECT count(*) FROM batch) WHERE c.id = 1 AND c.batches = $3::bigint RETURNING c.batches)
SELECT (SELECT max(id) FROM batch)::text AS last_id, (SELECT count(*) FROM batch)::int AS scanned,
 (SELECT count(*) FROM updated)::int AS updated, (SELECT batches FROM advanced)::text AS batches`;

/** The checkpoint table of `CHECKPOINTED_BATCH`, one row at batch 0. */
const CHECKPOINT_TABLE = `CREATE TABLE IF NOT EXISTS bench_checkpoint (id int PRIMARY KEY, last_id bigint NOT NULL,
 batches bigint NOT NULL, scanned bigint NOT NULL);
INSERT INTO bench_checkpoint VALUES (1, 0, 0, 0) ON CONFLICT (id) DO UPDATE SET last_id = 0, batches = 0, scanned = 0`;

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

/** How `pacedHandLoop` goes: rows a statement, its duty cycle, and its commits' `synchronous_commit` (default on, set explicitly whatever the server's default). */
export interface Pacing {
  batchSize: number;
  duty: number;
  synchronousCommit?: 'on' | 'off';
  /** Each batch also advances a checkpoint in the same statement (`CHECKPOINTED_BATCH`). */
  checkpointed?: boolean;
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
    if (pacing.checkpointed) await db.query(CHECKPOINT_TABLE);
    const samples: BatchSample[] = [];
    let last = '0';
    let scanned = 0;
    let updated = 0;
    const startMs = Date.now();
    const t0 = performance.now();
    for (;;) {
      const b0 = performance.now();
      const r = await batchOnce(db, pacing, last, samples.length);
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

/** One batch of `pacedHandLoop` after `last`, the `batches`th; checkpointed, it checks the checkpoint moved with it. */
async function batchOnce(db: Client, pacing: Pacing, last: string, batches: number) {
  if (!pacing.checkpointed) return (await db.query(HAND_LOOP_BATCH, [last, pacing.batchSize])).rows[0];
  const r = (await db.query(CHECKPOINTED_BATCH, [last, pacing.batchSize, batches])).rows[0];
  if (r.batches !== String(batches + 1)) throw new Error(`the bench's checkpoint is at batch ${r.batches}, expected ${batches + 1}`);
  return r;
}
