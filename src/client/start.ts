import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { FerryError } from '../contract/errors';
import { formatDuration, parseDuration } from '../contract/duration';
import { runSettings, workflowId } from '../config';
import { acceptsSpecHash, loadAllMigrations, migrationsDir, type LoadedMigration } from '../definition/registry';
import { parseTableName, quoteTable } from '../pg/quote';
import type { MigrationInput } from '../contract/migration';
import type { Progress } from '../contract/progress';
import { MIGRATION_WORKFLOW, ROLLBACK_WORKFLOW, type MigrationWorkflow } from '../contract/workflow';
import type { FerryClient } from './connect';
import { findMigration } from './control';
import { resumePoint, startedEvent, type ResumePoint } from './recover';
import { migrationAttributes, missingSearchAttributes, startAttributes } from './search-attributes';
import { summaryLine, summaryMarkdown } from './summary';

/** Options of `ferry start`. */
export interface StartOptions {
  startedBy: string;
  /** Overrides `contract.after` (demos, tests). */
  coolOff?: string;
  /** Overrides `backfill.deadline`. */
  deadline?: string;
  /**
   * Runs only when a new run is about to start, before it starts; a throw starts nothing. The CLI
   * proves the definition against the database here; what it returns is reported as `checked`.
   */
  beforeStart?: () => Promise<string | undefined>;
  /** The migrations `after` may name (default: every file of `FERRY_MIGRATIONS`, read only when `after` is set). */
  known?: Map<string, LoadedMigration>;
}

/** What `ferry start` did. */
export interface StartResult {
  status: 'started' | 'already-running' | 'already-completed';
  workflowId: string;
  runId?: string;
  phase?: string;
  /**
   * Flags given to a start of a migration already running that differ from what it runs with:
   * the running migration keeps its own (start is idempotent), and these say so.
   */
  notApplied?: string[];
  /** What `beforeStart` reported (the CLI: what was proved against the database, or why not). */
  checked?: string;
  /** Set when a new run replaces one that ended early: how it ended, e.g. `migration "x" was aborted at … by …`. */
  previousRun?: string;
  /** The ended run (cancelled, terminated, failed) whose checkpoints this run continues. */
  resumedFrom?: ResumePoint;
}

/** The workflow input: names, settings and the spec hash; never connection settings or row data. */
export function migrationInput(m: LoadedMigration, opts: StartOptions): MigrationInput {
  const d = m.definition;
  return {
    name: m.name,
    table: quoteTable(parseTableName(d.table)),
    specHash: m.specHash,
    dualWrite: d.dualWrite.by,
    coolOffMs: parseDuration(opts.coolOff ?? d.contract.after, opts.coolOff ? '--cool-off' : 'contract.after'),
    approvalRequired: d.contract.approval !== false,
    ...(typeof d.contract.approval === 'object' ? { approval: d.contract.approval } : {}),
    maxFailedRows: d.backfill.maxFailedRows,
    concurrency: d.backfill.concurrency,
    ...deadlineOf(opts.deadline ?? d.backfill.deadline, opts.deadline ? '--deadline' : 'backfill.deadline'),
    verifyEveryMs: parseDuration(d.verify.every, 'verify.every'),
    startedBy: opts.startedBy,
    settings: runSettings(),
    ...(d.unsafe?.length && { unsafe: d.unsafe.map((u) => ({ check: u.check, reason: u.reason })) }),
  };
}

function deadlineOf(value: string | number | undefined, what: string): { deadlineMs?: number } {
  return value === undefined ? {} : { deadlineMs: parseDuration(value, what) };
}

/**
 * Refuses an `after` that names a migration there is no file for, or that closes a cycle (a
 * migration that waits, through others, for itself): it would wait forever.
 * @throws FerryError INVALID_DEFINITION naming the migration and what to change.
 */
export function checkAfter(m: LoadedMigration, known?: Map<string, LoadedMigration>): void {
  if (m.definition.after.length === 0) return;
  const broken = new Map<string, string>();
  const all = new Map(known ?? loadAllMigrations(migrationsDir(), broken));
  all.set(m.name, m);
  for (const dep of m.definition.after) {
    if (!all.has(dep.name)) {
      const names = [...all.keys()].filter((n) => n !== m.name).sort();
      const why = broken.get(dep.name);
      if (why)
        throw new FerryError(
          'INVALID_DEFINITION',
          `migration "${m.name}" waits for "${dep.name}" (after), whose file does not load: ${why} ` +
            'Fix that file and start it again. Nothing was started.',
        );
      throw new FerryError(
        'INVALID_DEFINITION',
        `migration "${m.name}" waits for "${dep.name}" (after), which is not a migration in ${migrationsDir()} ` +
          `(found: ${names.join(', ') || 'none'}); fix the name in "after" and start it again. Nothing was started.`,
      );
    }
  }
  const cycle = cycleFrom(m.name, all);
  if (cycle) {
    throw new FerryError(
      'INVALID_DEFINITION',
      `migration "${m.name}" waits for itself through "after": ${cycle.join(' → ')}; ` +
        `remove one of these from "after" and start it again. Nothing was started.`,
    );
  }
}

/** A path of `after` edges from `start` back to itself, or undefined. Names missing from `all` end a path. */
function cycleFrom(start: string, all: Map<string, LoadedMigration>): string[] | undefined {
  const seen = new Set<string>();
  const visit = (name: string, path: string[]): string[] | undefined => {
    for (const dep of all.get(name)?.definition.after ?? []) {
      if (dep.name === start) return [...path, start];
      if (seen.has(dep.name)) continue;
      seen.add(dep.name);
      const found = visit(dep.name, [...path, dep.name]);
      if (found) return found;
    }
    return undefined;
  };
  return visit(start, [start]);
}

/**
 * Starts a migration, idempotently: the same definition already running or completed is
 * success; a different one is a CONFLICT (exit 3). An aborted or failed run may be started again.
 */
export async function startMigration(fc: FerryClient, m: LoadedMigration, opts: StartOptions): Promise<StartResult> {
  const id = workflowId(m.name);
  const input = migrationInput(m, opts); // validates --cool-off and --deadline before anything else
  checkAfter(m, opts.known); // unknown names and cycles in `after`: nothing starts
  const existing = await existingRun(fc, m, id);
  if (existing)
    return existing.status === 'already-running' ? { ...existing, ...(await notApplied(fc, m.name, existing, opts)) } : existing;
  const checked = await opts.beforeStart?.();
  const previousRun = await previousRunEnded(fc, m.name);
  const resumeFrom = await resumePoint(fc, m);
  if (resumeFrom) input.resumeFrom = resumeFrom;
  input.startedIdentity = fc.caller.identity; // contract.approval.notBy 'starter' compares approvers with it
  const missing = await missingSearchAttributes(fc);
  if (missing.length > 0) input.missingSearchAttributes = missing;
  try {
    const handle = await fc.client.workflow.start<MigrationWorkflow>(MIGRATION_WORKFLOW, {
      workflowId: id,
      taskQueue: fc.config.taskQueue,
      args: [input],
      workflowIdConflictPolicy: 'FAIL',
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
      ...startAttributes({ name: m.name, table: input.table, specHash: m.specHash, phase: 'expanding', paused: false }, missing),
      staticSummary: await summaryLine(m, input),
      staticDetails: summaryMarkdown(m, input),
    });
    return {
      status: 'started',
      workflowId: id,
      runId: handle.firstExecutionRunId,
      ...(checked && { checked }),
      ...(previousRun ? { previousRun } : {}),
      ...(resumeFrom ? { resumedFrom: resumeFrom } : {}),
    };
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    const raced = await existingRun(fc, m, id);
    if (raced) return raced;
    throw err;
  }
}

/**
 * The `--cool-off` / `--deadline` given to a start of a running migration that differ from the
 * running input (read from the first event of its current run): they are not applied.
 */
async function notApplied(fc: FerryClient, name: string, run: StartResult, opts: StartOptions): Promise<Pick<StartResult, 'notApplied'>> {
  if (opts.coolOff === undefined && opts.deadline === undefined) return {};
  const running = run.runId ? (await startedEvent(fc, run.workflowId, run.runId)).input : undefined;
  if (!running) return {};
  const lines: string[] = [];
  const next = `abort it ("ferry abort ${name}") and start it again to change it`;
  if (opts.coolOff !== undefined && parseDuration(opts.coolOff, '--cool-off') !== running.coolOffMs) {
    lines.push(
      `--cool-off ${opts.coolOff} was not applied: migration ${name} is running with cool-off ${formatDuration(running.coolOffMs)}; ${next}`,
    );
  }
  if (opts.deadline !== undefined && parseDuration(opts.deadline, '--deadline') !== running.deadlineMs) {
    const has = running.deadlineMs === undefined ? 'no deadline' : `deadline ${formatDuration(running.deadlineMs)}`;
    lines.push(`--deadline ${opts.deadline} was not applied: migration ${name} is running with ${has}; ${next}`);
  }
  return lines.length ? { notApplied: lines } : {};
}

/**
 * How the last run ended when it ended early (aborted, failed, cancelled, terminated, timed out),
 * so that starting a new run is said out loud; undefined when there was none.
 */
async function previousRunEnded(fc: FerryClient, name: string): Promise<string | undefined> {
  const found = await findMigration(fc, name);
  if (!found) return undefined;
  const { handle, description } = found;
  const { phase } = migrationAttributes(description);
  const status = description.status.name;
  const closed = description.closeTime?.toISOString() ?? 'an unknown time';
  if (status === 'COMPLETED' && phase === 'aborted') {
    const result = (await handle.result().catch(() => undefined)) as Progress | undefined;
    const abort = result?.abort;
    return abort
      ? `migration "${name}" was aborted at ${abort.at} by ${abort.by} (${abort.reason}${abort.rollback ? '; rolled back' : ''})`
      : `migration "${name}" was aborted at ${closed}`;
  }
  if (status === 'COMPLETED') return undefined;
  const how = phase === 'failed' || status === 'FAILED' ? 'failed' : status.toLowerCase().replace('_', ' ');
  return `the last run of migration "${name}" ${how === 'failed' ? 'failed' : `was ${how}`} at ${closed} (phase ${phase ?? 'unknown'})`;
}

/** The run that makes a start unnecessary (or conflicting), if any. */
async function existingRun(fc: FerryClient, m: LoadedMigration, id: string): Promise<StartResult | undefined> {
  const found = await findMigration(fc, m.name);
  if (!found) return undefined;
  const { description } = found;
  const { phase, specHash: hash } = migrationAttributes(description);
  const running = description.status.name === 'RUNNING' || description.status.name === 'CONTINUED_AS_NEW';
  if (running && description.type === ROLLBACK_WORKFLOW) {
    throw new FerryError(
      'CONFLICT',
      `migration "${m.name}" is being rolled back; wait for it ("ferry status ${m.name}"), then start it again.`,
    );
  }
  if (!running && !(description.status.name === 'COMPLETED' && phase === 'completed')) return undefined;
  if (hash === undefined || !acceptsSpecHash(m, hash)) {
    throw new FerryError(
      'CONFLICT',
      `migration "${m.name}" ${running ? 'is running' : 'completed'} with another definition (spec ${hash}, this file is ${m.specHash}); ` +
        (running
          ? `restore the file it was started with, or abort it ("ferry abort ${m.name}") first.`
          : 'write a new migration under a new name.'),
    );
  }
  return { status: running ? 'already-running' : 'already-completed', workflowId: id, runId: description.runId, phase };
}
