/**
 * Reads a migration's Temporal history: how many events it has (over every continue-as-new run)
 * and when each `backfillChunk` activity was scheduled and completed, with its result.
 */
import type { Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { tsToMs } from '@temporalio/common/lib/time';
import type { temporal } from '@temporalio/proto';
import type { ChunkResult } from '../../src/activities/backfill';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

/** One `backfillChunk` activity: server timestamps (epoch ms) and what it reported. */
export interface ChunkRecord {
  scheduledMs: number;
  completedMs: number;
  result: ChunkResult;
}

/** A migration's history as the bench reads it. */
export interface HistorySummary {
  runs: number;
  runIds: string[];
  events: number;
  /**
   * Events of the backfill: from the first backfillChunk scheduled up to the next activity that
   * is not part of a backfill round (verify), so each round's bookkeeping counts too.
   */
  backfillEvents: number;
  chunks: ChunkRecord[];
}

/** Every run of the chain that ends in the current run, oldest first, with its events. */
async function runsOf(client: Client, workflowId: string): Promise<{ runId: string; events: HistoryEvent[] }[]> {
  const runs: { runId: string; events: HistoryEvent[] }[] = [];
  let runId: string | undefined = (await client.workflow.getHandle(workflowId).describe()).runId;
  while (runId) {
    const history: temporal.api.history.v1.IHistory = await client.workflow.getHandle(workflowId, runId).fetchHistory();
    const events: HistoryEvent[] = history.events ?? [];
    runs.unshift({ runId, events });
    runId = events[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId || undefined;
  }
  return runs;
}

/** Activities of a backfill round. */
const ROUND_ACTIVITIES = ['initBackfill', 'backfillChunk', 'backfillStatus', 'requestStop'];

/** The index of the first activity after `from` that is not part of a backfill round, or the end. */
function endOfBackfill(events: HistoryEvent[], from: number): number {
  for (let i = from; i < events.length; i++) {
    const name = events[i].activityTaskScheduledEventAttributes?.activityType?.name;
    if (name && !ROUND_ACTIVITIES.includes(name)) return i;
  }
  return events.length;
}

/** The backfillChunk activities of one run's events, in order. */
function chunksOf(events: HistoryEvent[]): (ChunkRecord & { scheduledIndex: number; completedIndex: number })[] {
  const scheduled = new Map<string, { ms: number; index: number }>();
  const chunks: (ChunkRecord & { scheduledIndex: number; completedIndex: number })[] = [];
  events.forEach((e, index) => {
    const s = e.activityTaskScheduledEventAttributes;
    if (s?.activityType?.name === 'backfillChunk') scheduled.set(String(e.eventId), { ms: tsToMs(e.eventTime), index });
    const c = e.activityTaskCompletedEventAttributes;
    const from = c ? scheduled.get(String(c.scheduledEventId)) : undefined;
    if (c && from) {
      const result = defaultPayloadConverter.fromPayload<ChunkResult>(c.result!.payloads![0]);
      chunks.push({ scheduledMs: from.ms, completedMs: tsToMs(e.eventTime), result, scheduledIndex: from.index, completedIndex: index });
    }
  });
  return chunks;
}

/**
 * The history of `migration/<name>` so far, summed over its continue-as-new runs.
 * @example const h = await readHistory(client, 'migration/posts-member-uuid'); h.events
 */
export async function readHistory(client: Client, workflowId: string): Promise<HistorySummary> {
  const runs = await runsOf(client, workflowId);
  let backfillEvents = 0;
  const chunks: ChunkRecord[] = [];
  for (const run of runs) {
    const found = chunksOf(run.events);
    if (found.length > 0) backfillEvents += endOfBackfill(run.events, found[found.length - 1].completedIndex) - found[0].scheduledIndex;
    chunks.push(...found.map(({ scheduledMs, completedMs, result }) => ({ scheduledMs, completedMs, result })));
  }
  return {
    runs: runs.length,
    runIds: runs.map((r) => r.runId),
    events: runs.reduce((sum, r) => sum + r.events.length, 0),
    backfillEvents,
    chunks,
  };
}

/**
 * The median batch duration over every chunk: each chunk reports the median of its own batches,
 * so with several chunks this is the batch-weighted median of those medians (exact with one chunk).
 */
export function batchMedianOf(chunks: ChunkRecord[]): number {
  const weighted = chunks.filter((c) => c.result.batches > 0).sort((a, b) => a.result.batchMsMedian - b.result.batchMsMedian);
  const total = weighted.reduce((sum, c) => sum + c.result.batches, 0);
  let seen = 0;
  for (const c of weighted) {
    seen += c.result.batches;
    if (seen * 2 >= total) return c.result.batchMsMedian;
  }
  return 0;
}
