import { FerryError } from '../contract/errors';
import * as sa from '../contract/search-attributes';
import { isFinal, isPhase, PHASES, untilOutcome, type Phase, type PhaseTarget } from '../contract/phases';
import { MIGRATION_WORKFLOW, ROLLBACK_WORKFLOW } from '../contract/workflow';
import type { FerryClient } from './connect';
import { migrationHandle } from './control';

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

/** Every migration the namespace knows (latest run of each, a rollback run included), newest first. */
export async function listMigrations(fc: FerryClient): Promise<MigrationSummary[]> {
  const seen = new Map<string, MigrationSummary>();
  const query = `WorkflowType = "${MIGRATION_WORKFLOW}" OR WorkflowType = "${ROLLBACK_WORKFLOW}"`;
  for await (const wf of fc.client.workflow.list({ query })) {
    const name = wf.typedSearchAttributes.get(sa.MigrationName) ?? wf.workflowId.replace(/^migration\//, '');
    if (seen.has(name)) continue;
    seen.set(name, {
      name,
      table: wf.typedSearchAttributes.get(sa.MigrationTable) ?? '',
      phase: wf.typedSearchAttributes.get(sa.MigrationPhase) ?? '',
      paused:
        (wf.typedSearchAttributes.get(sa.MigrationPaused) ?? false) &&
        running(wf.typedSearchAttributes.get(sa.MigrationPhase), wf.status.name),
      status: wf.status.name,
      startedAt: wf.startTime.toISOString(),
      contractNotBefore: wf.typedSearchAttributes.get(sa.ContractNotBefore)?.toISOString(),
    });
  }
  return [...seen.values()];
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
    const phase = (d.typedSearchAttributes.get(sa.MigrationPhase) ?? 'expanding') as Phase;
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
