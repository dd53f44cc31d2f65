import type { BackfillChunkInput } from '../contract/activities';
import { parseDuration } from '../contract/duration';
import { FerryError } from '../contract/errors';
import type { MigrationDefinition } from '../definition/define';
import type { Chunk, ChunkSettings } from './chunk-types';
import { pacedBatchSize } from './pacing';
import type { EngineOptions } from './resources';
import { dutySize } from './latency-control';
import { heartbeatDetails, type Tally } from './tally';
import { DEFAULT_BACKOFF } from './throttle';
import { backfillTuning } from './tuning';

/**
 * What one chunk runs on and with (`Chunk`, typed in `chunk-types.ts`), built once per
 * `backfillChunk`; the partition's cursor and the chunk's tally travel beside it. Also the two
 * things every part of a chunk asks of it: the next batch's size and a heartbeat.
 */

/** The chunk's type, where the engine's files that build and run chunks have always taken it. */
export type { Chunk } from './chunk-types';

/** The settings of a chunk of `backfill`, with the engine's options. */
export function chunkSettings(backfill: MigrationDefinition['backfill'], options: EngineOptions): ChunkSettings {
  return {
    tuning: backfillTuning(backfill),
    backoff: { ...DEFAULT_BACKOFF, ...options.health?.backoff },
    timeoutRetries: options.timeoutRetries ?? 5,
    pauseMs: parseDuration(backfill.pause, 'backfill.pause'),
    synchronousCommit: backfill.synchronousCommit,
  };
}

/**
 * Rejects a `maxRowsPerSec` that is not a positive number: a workflow bug.
 * @throws FerryError BAD_INPUT (not retryable).
 */
export function checkChunkInput(input: BackfillChunkInput): void {
  const rate = input.maxRowsPerSec;
  if (rate === undefined || (Number.isFinite(rate) && rate > 0)) return;
  throw new FerryError(
    'BAD_INPUT',
    `backfillChunk of migration "${input.name}" got maxRowsPerSec ${rate}; it must be a positive number of rows a second, or absent for no limit.`,
  );
}

/**
 * The size of the next batch: the sizer's, scaled by the latency budget's duty cycle, capped to a
 * second's rows under `maxRowsPerSec`.
 */
export function batchSize(chunk: Chunk): number {
  return pacedBatchSize(dutySize(chunk, chunk.tools.sizer.next()), chunk.input.maxRowsPerSec);
}

/** Sends the chunk's counters through the port. */
export function heartbeat(chunk: Chunk, tally: Tally): void {
  chunk.port.heartbeat(heartbeatDetails(tally, chunk.input.partition, batchSize(chunk)));
}
