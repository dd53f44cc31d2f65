import {
  ServiceError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
  type WorkflowHandle,
} from '@temporalio/client';
import { FerryError } from '../contract/errors';
import { workflowId } from '../config';
import * as msg from '../contract/messages';
import type { AuditEntry } from '../contract/migration';
import { PROGRESS_MEMO, rowMath, withInFlight, type InFlightRows, type Progress, type ProgressMemo } from '../contract/progress';
import { hasReached, isFinal } from '../contract/phases';
import { listMigrationFiles, migrationsDir } from '../definition/registry';
import { temporal } from '@temporalio/proto';
import type { ChunkHeartbeat } from '../contract/activities';
import type { FerryClient } from './connect';
import { migrationAttributes } from './search-attributes';

/** How long an update waits for a worker to answer. */
const UPDATE_DEADLINE_MS = 30_000;

/** The migration's workflow, described: the latest run of `migration/<name>`. */
export interface FoundMigration {
  handle: WorkflowHandle;
  description: Awaited<ReturnType<WorkflowHandle['describe']>>;
}

/** The migration's workflow if Temporal knows it (one describe), else undefined. */
export async function findMigration(fc: FerryClient, name: string): Promise<FoundMigration | undefined> {
  const handle = fc.client.workflow.getHandle(workflowId(name));
  try {
    return { handle, description: await handle.describe() };
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
}

/**
 * The migration's workflow; NOT_FOUND (exit 2) when Temporal does not know it, saying whether it
 * is a file of FERRY_MIGRATIONS never started (then: run ferry start) or no migration at all
 * (then: the files there).
 */
export async function migrationHandle(fc: FerryClient, name: string): Promise<FoundMigration> {
  const found = await findMigration(fc, name);
  if (!found) throw notStarted(name, fc.config.namespace);
  return found;
}

/** The error for a name Temporal does not know, with the next step that works. */
export function notStarted(name: string, namespace: string): FerryError {
  let files: Map<string, string>;
  const dir = migrationsDir();
  try {
    files = listMigrationFiles(dir);
  } catch (err) {
    const why = err instanceof FerryError ? err.message : String(err);
    return new FerryError('NOT_FOUND', `migration "${name}" is not known to Temporal (namespace "${namespace}"), and ${why}`);
  }
  if (files.has(name)) return new FerryError('NOT_FOUND', `migration "${name}" has not been started; run "ferry start ${name}" first.`);
  const known = [...files.keys()].sort().join(', ') || 'none';
  return new FerryError(
    'NOT_FOUND',
    `migration "${name}" is not known to Temporal (namespace "${namespace}") nor a file in "${dir}" (found: ${known}); ` +
      'check the name, or set FERRY_MIGRATIONS or TEMPORAL_NAMESPACE; "ferry list" shows the started ones.',
  );
}

/** Sends the `deployed` signal; the server records it even when no worker is up. */
export async function signalDeployed(fc: FerryClient, name: string, actor: msg.Actor): Promise<void> {
  const { handle } = await migrationHandle(fc, name);
  await handle.signal(msg.deployedSignal, { ...actor, identity: fc.caller.identity });
}

type ControlUpdate =
  | typeof msg.pauseUpdate
  | typeof msg.resumeUpdate
  | typeof msg.approveUpdate
  | typeof msg.finalizeUpdate
  | typeof msg.abortUpdate
  | typeof msg.retryFailedUpdate;

/**
 * Runs pause/resume/approve/abort and returns the new progress. A rejected update (wrong phase)
 * is a CONFLICT (exit 3); no worker answering within 30 s is UNAVAILABLE.
 */
export async function control(
  fc: FerryClient,
  name: string,
  update: ControlUpdate,
  actor: msg.Actor & { rollback?: boolean; acceptFailedRows?: boolean },
): Promise<Progress> {
  const { handle, description } = await migrationHandle(fc, name);
  const { status } = description;
  if (status.name !== 'RUNNING') {
    const phase = migrationAttributes(description).phase ?? status.name.toLowerCase();
    throw new FerryError(
      'CONFLICT',
      `migration "${name}" is ${phase} (${status.name}); there is nothing to ${update.name}. "ferry status ${name}" says what to run next.`,
    );
  }
  try {
    const p = await fc.client.withDeadline(Date.now() + UPDATE_DEADLINE_MS, () =>
      // The caller's identity from its credentials goes with every update, beside the typed `by`.
      handle.executeUpdate(update as typeof msg.abortUpdate, { args: [{ ...actor, identity: fc.caller.identity }] }),
    );
    // The workflow's counters move once per chunk: add the rows of the chunks still running.
    return withInFlight(p, inFlightChunks(fc, await handle.describe()));
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) {
      throw new FerryError('CONFLICT', (err.cause as Error | undefined)?.message ?? err.message);
    }
    if (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError || isDeadline(err)) {
      throw new FerryError(
        'UNAVAILABLE',
        `no worker answered for migration "${name}" within ${UPDATE_DEADLINE_MS / 1000}s; start one with "ferry worker" (task queue "${fc.config.taskQueue}").`,
      );
    }
    throw err;
  }
}

/** Whether an error (or its cause: the client wraps gRPC's) says the call ran out of time or was cancelled. */
function isDeadline(err: unknown): boolean {
  for (let e = err as { message?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (/deadline|DEADLINE_EXCEEDED|cancel/i.test(String(e.message ?? e))) return true;
  }
  return false;
}

/**
 * The progress of a migration: from the `progress` query; when no worker polls its task queue (the
 * query is then not sent: it would only wait) or none answers in time, the last known one, from
 * its search attributes, the counters in its memo and the heartbeats of its running chunks.
 */
export async function getProgress(
  fc: FerryClient,
  name: string,
): Promise<Progress & { source: 'query' | 'search-attributes'; status: string }> {
  const { handle, description } = await migrationHandle(fc, name);
  const status = description.status.name;
  const polled = await hasPollers(fc, description.taskQueue);
  if (polled) {
    try {
      const progress = await fc.client.withDeadline(Date.now() + QUERY_DEADLINE_MS, () => handle.query(msg.progressQuery));
      return { ...withInFlight(progress, inFlightChunks(fc, description)), source: 'query', status };
    } catch (err) {
      // No worker answered in time, or the server could not hand the query to one (e.g. the sticky
      // worker of a killed process: "Failed to query Workflow"): fall back to the last known progress.
      if (!isDeadline(err) && !(err instanceof ServiceError)) throw err;
    }
  }
  const waitingFor = polled
    ? 'a worker to answer the progress query (is "ferry worker" running?)'
    : `a worker: none polls task queue "${description.taskQueue}"; start one with "ferry worker"`;
  return { ...lastKnownProgress(fc, name, description), waitingFor, source: 'search-attributes', status };
}

/** How long the progress query waits for a worker that polls the task queue. */
const QUERY_DEADLINE_MS = 5000;

/** A worker that polls within this long is alive: workers re-poll at least once a minute (long polls). */
const POLLER_FRESH_MS = 90_000;

/**
 * Whether a worker has polled the workflow task queue recently (one DescribeTaskQueue call). When
 * the call itself fails, say yes: the query then decides.
 */
async function hasPollers(fc: FerryClient, taskQueue: string): Promise<boolean> {
  try {
    const res = await fc.client.withDeadline(Date.now() + QUERY_DEADLINE_MS, () =>
      fc.client.workflowService.describeTaskQueue({
        namespace: fc.config.namespace,
        taskQueue: { name: taskQueue, kind: temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
        taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
      }),
    );
    const now = Date.now();
    return (res.pollers ?? []).some((p) => now - seconds(p.lastAccessTime) * 1000 < POLLER_FRESH_MS);
  } catch {
    return true;
  }
}

/** The last progress the workflow published: phase from its search attributes, rows from its memo and running chunks. */
function lastKnownProgress(fc: FerryClient, name: string, description: FoundMigration['description']): Progress {
  const attrs = migrationAttributes(description);
  const phase = attrs.phase ?? 'expanding';
  const memo = description.memo?.[PROGRESS_MEMO] as Partial<ProgressMemo> | undefined;
  const live = inFlightChunks(fc, description);
  const counts = rowMath({
    rowsDone: (memo?.rowsDone ?? 0) + live.rows,
    rowsEstimated: memo?.rowsEstimated ?? 0,
    rate: 0,
    done: hasReached(phase, 'verifying'),
    stopped: true, // nothing moves without a worker
  });
  const at = memo?.at && Date.parse(memo.at) ? memo.at : undefined;
  return {
    ...emptyProgress(name),
    ...counts,
    phase,
    paused: attrs.paused && !isFinal(phase),
    table: attrs.table ?? '',
    rowsUpdated: (memo?.rowsUpdated ?? 0) + live.updated,
    rowsFailed: memo?.rowsFailed ?? 0,
    ...(at ? { asOf: { at, ageSeconds: Math.max(0, Math.round((Date.now() - Date.parse(at)) / 1000)) } } : {}),
  };
}

/**
 * Rows done by backfill chunks still running, from their heartbeats (counts only): the
 * workflow's counters move once per chunk, heartbeats once per batch.
 */
function inFlightChunks(fc: FerryClient, description: FoundMigration['description']): InFlightRows {
  const converter = fc.client.options.loadedDataConverter.payloadConverter;
  let rows = 0;
  let updated = 0;
  let rate = 0;
  for (const activity of description.raw.pendingActivities ?? []) {
    const payload = activity.heartbeatDetails?.payloads?.[0];
    if (activity.activityType?.name !== 'backfillChunk' || !payload) continue;
    const beat = converter.fromPayload<Partial<ChunkHeartbeat>>(payload);
    rows += beat.rowsScanned ?? 0;
    updated += beat.rowsUpdated ?? 0;
    const ms = seconds(activity.lastHeartbeatTime) - seconds(activity.lastStartedTime);
    if (ms > 0) rate += (beat.rowsScanned ?? 0) / ms;
  }
  return { rows, updated, rate: Math.round(rate) };
}

function seconds(t: { seconds?: unknown; nanos?: number | null } | null | undefined): number {
  return t ? Number(t.seconds ?? 0) + (t.nanos ?? 0) / 1e9 : 0;
}

function emptyProgress(name: string): Progress {
  return {
    name,
    table: '',
    phase: 'expanding',
    paused: false,
    rowsDone: 0,
    rowsUpdated: 0,
    rowsEstimated: 0,
    rowsFailed: 0,
    percent: 0,
    rowsPerSecond: 0,
    etaSeconds: null,
    deployed: false,
    throttledSeconds: 0,
  };
}

/** The audit trail (`audit` query). */
export async function getAudit(fc: FerryClient, name: string): Promise<AuditEntry[]> {
  const { handle } = await migrationHandle(fc, name);
  return fc.client.withDeadline(Date.now() + 10_000, () => handle.query(msg.auditQuery));
}
