import { FerryError } from '../contract/errors';
import { progressQuery } from '../contract/messages';
import { isFinal, isPhase, PHASES, untilOutcome, type Phase, type PhaseTarget } from '../contract/phases';
import { MIGRATION_WORKFLOW, ROLLBACK_WORKFLOW } from '../contract/workflow';
import type { FerryClient } from './connect';
import { migrationHandle } from './control';
import { migrationAttributes } from './search-attributes';

/** One line of `ferry list`. */
export interface MigrationSummary {
  name: string;
  table: string;
  phase: string;
  paused: boolean;
  status: string;
  startedAt: string;
  contractNotBefore?: string;
}

/**
 * The visibility query of `ferry list`: ferry's workflow types under the `migration/` id prefix.
 * Only built-in search attributes, so it works in a namespace that lacks ferry's own.
 */
export const LIST_QUERY = `(WorkflowType = "${MIGRATION_WORKFLOW}" OR WorkflowType = "${ROLLBACK_WORKFLOW}") AND WorkflowId STARTS_WITH "migration/"`;

/**
 * Every migration the namespace knows (latest run of each, a rollback run included), newest first.
 * Each one's attributes come from its search attributes, or its memo where the namespace lacks
 * them (`migrationAttributes`); a migration started before the memo existed there shows its phase
 * from the `progress` query when it is running and a worker answers.
 */
export async function listMigrations(fc: FerryClient): Promise<MigrationSummary[]> {
  const seen = new Map<string, MigrationSummary>();
  for await (const wf of fc.client.workflow.list({ query: LIST_QUERY })) {
    const attrs = migrationAttributes(wf);
    const name = attrs.name ?? wf.workflowId.replace(/^migration\//, '');
    if (seen.has(name)) continue;
    const phase = attrs.phase ?? (await queriedPhase(fc, wf.workflowId, wf.status.name));
    seen.set(name, {
      name,
      table: attrs.table ?? '',
      phase: phase ?? '',
      paused: attrs.paused && running(phase, wf.status.name),
      status: wf.status.name,
      startedAt: wf.startTime.toISOString(),
      contractNotBefore: attrs.contractNotBefore?.toISOString(),
    });
  }
  return [...seen.values()];
}

/** The phase from a running migration's `progress` query (5 s at most), or undefined. */
async function queriedPhase(fc: FerryClient, id: string, status: string): Promise<Phase | undefined> {
  if (status !== 'RUNNING') return undefined;
  const handle = fc.client.workflow.getHandle(id);
  return fc.client
    .withDeadline(Date.now() + 5000, () => handle.query(progressQuery))
    .then((p) => p.phase)
    .catch(() => undefined);
}

/** Whether a migration is still under way: a paused flag of one that ended means nothing. */
function running(phase: string | undefined, status: string): boolean {
  return !(phase !== undefined && isPhase(phase) && isFinal(phase)) && (status === 'RUNNING' || status === 'PAUSED');
}

/** Phases `--wait-for` accepts: `expanded` (expand is done) or any phase name. */
export function parseWaitFor(value: string): PhaseTarget {
  if (value === 'expanded' || isPhase(value)) return value;
  throw new FerryError('BAD_INPUT', `--wait-for "${value}" is not a phase; use expanded or one of: ${PHASES.join(', ')}.`);
}

/**
 * Waits until the migration has reached `target` (or passed it, see `hasReached`). Fails when it
 * ends before reaching it: FAILED (exit 1) when the migration failed, CONFLICT (exit 3) when it was
 * aborted, cancelled or terminated (`untilOutcome`).
 */
export async function waitForPhase(fc: FerryClient, name: string, target: PhaseTarget, pollMs = 500): Promise<Phase> {
  const { handle } = await migrationHandle(fc, name);
  for (;;) {
    const d = await handle.describe();
    const phase = migrationAttributes(d).phase ?? 'expanding';
    const outcome = untilOutcome(phase, d.status.name, target);
    if (outcome === 'reached') return phase;
    if (outcome !== 'waiting') throw untilError(name, phase, d.status.name, target, outcome);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/**
 * The error of a watch that ended before `target`: FAILED (exit 1) for a failed migration,
 * CONFLICT (exit 3) for an aborted, cancelled or terminated one.
 */
export function untilError(name: string, phase: Phase, status: string, target: PhaseTarget, outcome: 'failed' | 'stopped'): FerryError {
  const ended = `migration "${name}" ended ${phase} (${status}) before reaching ${target}`;
  return outcome === 'failed'
    ? new FerryError('FAILED', `${ended}; see "ferry status ${name}" for the error.`)
    : new FerryError('CONFLICT', `${ended}; see "ferry history ${name}" for who stopped it.`);
}
