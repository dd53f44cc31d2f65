import { FerryError } from '../contract/errors';
import * as sa from '../contract/search-attributes';
import { hasReached, isFinal, isPhase, PHASES, type Phase, type PhaseTarget } from '../contract/phases';
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
      paused: wf.typedSearchAttributes.get(sa.MigrationPaused) ?? false,
      status: wf.status.name,
      startedAt: wf.startTime.toISOString(),
      contractNotBefore: wf.typedSearchAttributes.get(sa.ContractNotBefore)?.toISOString(),
    });
  }
  return [...seen.values()];
}

/** Phases `--wait-for` accepts: `expanded` (expand is done) or any phase name. */
export function parseWaitFor(value: string): PhaseTarget {
  if (value === 'expanded' || isPhase(value)) return value;
  throw new FerryError('BAD_INPUT', `--wait-for "${value}" is not a phase; use expanded or one of: ${PHASES.join(', ')}.`);
}

/**
 * Waits until the migration has reached `target` (or passed it, see `hasReached`). Fails when it
 * ends (aborted, failed, or completed) before reaching it.
 */
export async function waitForPhase(fc: FerryClient, name: string, target: PhaseTarget, pollMs = 500): Promise<Phase> {
  const { handle } = await migrationHandle(fc, name);
  for (;;) {
    const d = await handle.describe();
    const phase = (d.typedSearchAttributes.get(sa.MigrationPhase) ?? 'expanding') as Phase;
    if (hasReached(phase, target)) return phase;
    if (isFinal(phase) || (d.status.name !== 'RUNNING' && d.status.name !== 'CONTINUED_AS_NEW')) {
      throw new FerryError(
        'FAILED',
        `migration "${name}" ended ${phase} (${d.status.name}) before reaching ${target}; see "ferry status ${name}".`,
      );
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
