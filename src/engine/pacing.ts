/**
 * Pacing for deadline mode: the workflow computes the rate that finishes the backfill by its
 * deadline and passes it to each chunk as `maxRowsPerSec`; the chunk keeps below it by sleeping
 * after each batch (on top of `backfill.pause`). Rows count as scanned (every key in the window).
 */

/**
 * The batch size under a rate: at most one second's rows (at least one row), so the sleeps
 * between batches stay near a second and the rate stays even, not bursty.
 * @example pacedBatchSize(1000, 50) // 50
 */
export function pacedBatchSize(size: number, maxRowsPerSec?: number): number {
  if (maxRowsPerSec === undefined) return size;
  return Math.max(1, Math.min(size, Math.ceil(maxRowsPerSec)));
}

/**
 * How long to sleep after a batch of `rows` that took `batchMs`, so that batch and sleep together
 * take at least `rows / maxRowsPerSec` seconds. 0 without a rate.
 * @example paceDelayMs(50, 200, 100) // 300: 50 rows at 100 rows/s take 500 ms
 */
export function paceDelayMs(rows: number, batchMs: number, maxRowsPerSec?: number): number {
  if (maxRowsPerSec === undefined || !(maxRowsPerSec > 0) || rows <= 0) return 0;
  return Math.max(0, Math.ceil((rows * 1000) / maxRowsPerSec - batchMs));
}
