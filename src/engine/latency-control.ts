import { formatMs, isLatencyReason, type LatencyVerdict } from '../health/latency';
import type { Chunk, LatencyControl } from './chunk-types';
import { countThrottled, type Tally } from './tally';

/**
 * A latency budget at work in a chunk (`backfill.health.latency`): the migration's canary runs
 * while the chunk does (its baseline measured before the first batch), and after each batch its
 * verdict moves the duty cycle, which sets the rest after the batch and the next batch's size.
 */

/** Runs `fn` with the migration's canary sampling (and, for a `ratio` budget, its baseline known). */
export async function withCanary<T>(chunk: Chunk, fn: () => Promise<T>): Promise<T> {
  const control = chunk.tools.latency;
  if (control === undefined) return fn();
  control.canary.acquire(chunk.port.log);
  try {
    await control.canary.ready(chunk.port.signal);
    return await fn();
  } finally {
    control.canary.release();
  }
}

/**
 * After a batch that took `batchMs`: feeds the canary's verdict to the control loop, aims the
 * transaction sizer at the loop's lock time, and returns the rest it asks for (0 at full speed and
 * while only the transactions are smaller), counted as throttled time with the verdict as the
 * reason, e.g. `latency p99 4.1 ms > budget 3 ms` or `commit latency p99 9.4 ms > budget 3 ms`.
 * Once the loop has slowed down, only the samples taken since count (see `controlVerdict`).
 */
export function latencyRestMs(chunk: Chunk, tally: Tally, batchMs: number): number {
  const control = chunk.tools.latency;
  if (control === undefined) return 0;
  const verdict = controlVerdict(control);
  control.duty.update(verdict.fresh ? verdict.over : undefined, Date.now());
  const duty = control.duty.duty();
  const lockMs = control.duty.lockMs();
  if (lockMs !== undefined) chunk.tools.txSizer.aim?.(lockMs);
  const rest = control.duty.restMs(batchMs);
  const { name } = chunk.input;
  chunk.tools.metrics?.latency?.(name, { p99Ms: verdict.p99Ms, budgetMs: verdict.budgetMs, duty, lockMs });
  if (!control.duty.engaged()) return 0;
  const how = rest > 0 ? `${Math.round(duty * 100)}% duty` : `transactions of ${formatMs(lockMs ?? 0)} ms`;
  const reason = verdict.over ? verdict.reason : `${verdict.reason}; speeding up (${how})`;
  // Logged once when it starts, whichever probe's reason was the last.
  if (verdict.over && !isLatencyReason(tally.throttleReason)) {
    chunk.port.log('backfill slows down for the latency budget', { migration: name, partition: chunk.input.partition, reason });
  }
  countThrottled(tally, rest, reason);
  if (rest > 0) chunk.tools.metrics?.throttled(name, 'latency', rest / 1000);
  return rest;
}

/** Whether the latency budget's loop holds the backfill below full speed (its transactions then commit synchronously). */
export function latencyEngaged(chunk: Chunk): boolean {
  return chunk.tools.latency?.duty.engaged() ?? false;
}

/**
 * The verdict the control loop acts on: on the samples taken since the duty was last halved, once
 * there are enough of them (`fresh`); until then the whole window's, for the reason and metrics
 * only, and the duty holds. Before any halving the whole window is fresh.
 */
function controlVerdict(control: LatencyControl): LatencyVerdict & { fresh: boolean } {
  const since = control.duty.lastDecrease();
  const fresh = Number.isFinite(since) ? control.canary.verdictSince(since) : control.canary.verdict();
  return fresh === undefined ? { ...control.canary.verdict(), fresh: false } : { ...fresh, fresh: true };
}

/** The duty cycle's share of `size` rows (at least one row). */
export function dutySize(chunk: Chunk, size: number): number {
  const duty = chunk.tools.latency?.duty.duty() ?? 1;
  return duty >= 1 ? size : Math.max(1, Math.round(size * duty));
}
