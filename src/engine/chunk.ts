import type { ChunkResult, ChunkStop } from '../contract/activities';
import { stopRequested } from '../store/checkpoints';
import { batchSize, heartbeat, type Chunk } from './chunk-setup';
import type { Cursor } from './cursor';
import { latencyRestMs, withCanary } from './latency-control';
import { paceDelayMs } from './pacing';
import { chunkResult, countThrottled, newTally, type Tally } from './tally';
import { waitUntilHealthy, type Unhealthy } from './throttle';
import { timedBatch } from './timed-batch';

/**
 * The chunk: batches of one partition for at most `input.maxMs`. Before each batch it waits while
 * the database is unhealthy; after each it heartbeats, paces, rests for the latency budget (when
 * set; `latency-control.ts`) and pauses. It returns when the
 * partition is done, time is up, a stop is requested or another attempt superseded it.
 */

/**
 * Runs the chunk from `cursor` (read at `started`) until it must return; the result carries counters only.
 * @example const result = await runChunk(chunk, await openCursor(pool, input), Date.now())
 */
export async function runChunk(chunk: Chunk, cursor: Cursor, started: number): Promise<ChunkResult> {
  const tally = newTally();
  const stopped = await withCanary(chunk, () => batchLoop(chunk, cursor, tally, started));
  const result = chunkResult(tally, { done: cursor.done, stopped, elapsedMs: Date.now() - started, batchSize: batchSize(chunk) });
  const { minBatchSize, maxBatchSize } = chunk.settings.tuning;
  return minBatchSize === maxBatchSize ? { ...result, batchSizeFixed: true } : result;
}

/**
 * Runs batches until the partition is done, time is up, a stop is requested or it is superseded;
 * before each batch it waits while the database is unhealthy, after each it paces and pauses.
 */
async function batchLoop(chunk: Chunk, cursor: Cursor, tally: Tally, started: number): Promise<ChunkStop> {
  const { signal } = chunk.port;
  while (!cursor.done) {
    if (signal.aborted) throw signal.reason;
    if (Date.now() - started >= chunk.input.maxMs) return 'time';
    const held = await waitForHealth(chunk, tally, started);
    if (held !== undefined) return held;
    const t0 = Date.now();
    const outcome = await timedBatch(chunk, cursor, tally);
    if (outcome === 'timed-out') continue; // the batch rolled back; run it again, smaller
    if (signal.aborted) throw signal.reason;
    if (outcome.stop !== undefined) return outcome.stop;
    const batchMs = Date.now() - t0;
    const restMs = latencyRestMs(chunk, tally, batchMs) + paceDelayMs(outcome.scanned, batchMs, chunk.input.maxRowsPerSec);
    if (!cursor.done) await pause(chunk, started, restMs);
  }
  return 'done';
}

/** Sleeps `backfill.pause` plus `paceMs` (pacing, the latency budget's rest; cancellable), but not past the chunk's time. */
async function pause(chunk: Chunk, started: number, paceMs: number): Promise<void> {
  const ms = Math.min(chunk.settings.pauseMs + paceMs, chunk.input.maxMs - (Date.now() - started));
  if (ms > 0) await chunk.port.sleep(ms);
}

/**
 * Waits while the health gate says the database cannot take more (heartbeating, counting the
 * time); returns why the chunk must end instead ('time', 'stop-requested'), or undefined to go on.
 */
async function waitForHealth(chunk: Chunk, tally: Tally, started: number): Promise<ChunkStop | undefined> {
  const outcome = await waitUntilHealthy(
    {
      gate: chunk.tools.gate,
      sleep: (ms) => chunk.port.sleep(ms),
      remainingMs: () => chunk.input.maxMs - (Date.now() - started),
      stopRequested: () => stopRequested(chunk.pool, chunk.input),
      onWait: (ms, verdict) => throttled(chunk, tally, ms, verdict),
    },
    chunk.settings.backoff,
  );
  return outcome === 'healthy' ? undefined : outcome;
}

/** Counts a slice of waiting for health: throttled time, reason, metrics, a heartbeat. */
function throttled(chunk: Chunk, tally: Tally, ms: number, verdict: Unhealthy): void {
  const { name, partition } = chunk.input;
  if (tally.throttleReason !== verdict.reason)
    chunk.port.log('backfill waits for the database', { migration: name, partition, reason: verdict.reason });
  countThrottled(tally, ms, verdict.reason);
  chunk.tools.metrics?.throttled(name, verdict.kind, ms / 1000);
  heartbeat(chunk, tally);
}
