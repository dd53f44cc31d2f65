import {
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
  type WorkflowHandle,
} from '@temporalio/client';
import { FerryError } from '../contract/errors';
import { workflowId } from '../config';
import * as msg from '../contract/messages';
import * as sa from '../contract/search-attributes';
import type { AuditEntry } from '../contract/migration';
import { withInFlight, type InFlightRows, type Progress } from '../contract/progress';
import type { ChunkHeartbeat } from '../contract/activities';
import type { FerryClient } from './connect';

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

/** The migration's workflow; NOT_FOUND (exit 2) when it was never started. */
export async function migrationHandle(fc: FerryClient, name: string): Promise<FoundMigration> {
  const found = await findMigration(fc, name);
  if (!found) throw new FerryError('NOT_FOUND', `migration "${name}" has not been started; run "ferry start ${name}" first.`);
  return found;
}

/** Sends the `deployed` signal; the server records it even when no worker is up. */
export async function signalDeployed(fc: FerryClient, name: string, actor: msg.Actor): Promise<void> {
  const { handle } = await migrationHandle(fc, name);
  await handle.signal(msg.deployedSignal, actor);
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
  const { status, typedSearchAttributes } = description;
  if (status.name !== 'RUNNING') {
    const phase = typedSearchAttributes.get(sa.MigrationPhase) ?? status.name.toLowerCase();
    throw new FerryError('CONFLICT', `migration "${name}" is ${phase} (${status.name}); there is nothing to ${update.name}.`);
  }
  try {
    return await fc.client.withDeadline(Date.now() + UPDATE_DEADLINE_MS, () =>
      handle.executeUpdate(update as typeof msg.abortUpdate, { args: [actor] }),
    );
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

/** The progress of a migration: from the `progress` query, or from its search attributes when no worker answers. */
export async function getProgress(
  fc: FerryClient,
  name: string,
): Promise<Progress & { source: 'query' | 'search-attributes'; status: string }> {
  const { handle, description } = await migrationHandle(fc, name);
  const status = description.status.name;
  try {
    const progress = await fc.client.withDeadline(Date.now() + 5000, () => handle.query(msg.progressQuery));
    return { ...withInFlight(progress, inFlightChunks(fc, description)), source: 'query', status };
  } catch (err) {
    if (!isDeadline(err)) throw err; // only "no worker answered in time" falls back to the search attributes
    const attrs = description.typedSearchAttributes;
    return {
      ...emptyProgress(name),
      phase: (attrs.get(sa.MigrationPhase) ?? 'expanding') as Progress['phase'],
      paused: attrs.get(sa.MigrationPaused) ?? false,
      table: attrs.get(sa.MigrationTable) ?? '',
      waitingFor: 'a worker to answer the progress query (is "ferry worker" running?)',
      source: 'search-attributes',
      status,
    };
  }
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
