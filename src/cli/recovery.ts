/**
 * The CLI's side of recovery: `ferry abort [--rollback]` on a running or an ended migration, the
 * next steps `ferry status` prints for a run that is over without completing, and the line that
 * says a migration's file does not load.
 */
import type { Command } from 'commander';
import { abortMigration } from '../client/recover';
import { connectClient } from '../client/connect';
import { defaultActor } from '../config';
import { FerryError } from '../contract/errors';
import type { Progress } from '../contract/progress';
import { listMigrationFiles, loadMigration, type LoadedMigration } from '../definition/registry';
import { formatProgress } from './output';

/** `ferry abort <name> [--rollback]`. */
export function addAbortCommand(program: Command): void {
  program
    .command('abort <name>')
    .description(
      "stop before contracting; with --rollback also drop ferry's trigger and run expand.down (also after a failed, cancelled or terminated run)",
    )
    .option('--by <who>', 'who does it (audit trail)')
    .option('--reason <text>', 'why (audit trail)')
    .option('--rollback', "also run expand.down (and drop ferry's trigger)")
    .option('--json', 'print JSON')
    .action(async (name: string, o) => {
      const fc = await connectClient();
      try {
        const actor = { by: o.by ?? defaultActor(process.env, fc.caller), reason: o.reason, rollback: o.rollback === true };
        const outcome = await abortMigration(fc, name, actor, o.rollback ? definitionIfLoads(name) : undefined);
        const what =
          outcome.kind === 'update'
            ? 'abort accepted'
            : `rolled back (the run had ended ${outcome.after.status} in ${outcome.after.phase}); "ferry start ${name}" starts it again`;
        console.log(o.json ? JSON.stringify(outcome.progress, null, 2) : `migration ${name}: ${what}\n${formatProgress(outcome.progress)}`);
      } finally {
        await fc.close();
      }
    });
}

/** The migration's file, when this machine has it and it loads (for the spec-hash check). */
function definitionIfLoads(name: string): LoadedMigration | undefined {
  try {
    return loadMigration(name);
  } catch {
    return undefined;
  }
}

/**
 * Why the migration's file does not load here (FERRY_MIGRATIONS), or undefined when it loads or
 * is not there at all (the CLI may run without the migrations directory).
 */
export function definitionProblem(name: string): string | undefined {
  try {
    loadMigration(name);
    return undefined;
  } catch (err) {
    if (!(err instanceof FerryError && err.code === 'INVALID_DEFINITION')) return undefined;
    const file = listMigrationFiles().get(name) ?? '';
    return err.message.includes(file) ? err.message : `file "${file}": ${err.message}`;
  }
}

/**
 * `ferry status` of a migration never started whose file does not load: say why it does not load
 * (exit 2) rather than "run ferry start first", which would fail the same way.
 */
export function explainNotStarted(name: string, err: unknown): never {
  const problem = err instanceof FerryError && err.code === 'NOT_FOUND' ? definitionProblem(name) : undefined;
  if (problem) {
    throw new FerryError('INVALID_DEFINITION', `migration "${name}" has not been started, and its definition does not load: ${problem}`);
  }
  throw err;
}

/** What `ferry status` adds: the next steps after a run that is over, and a definition that does not load. */
export function statusNotes(name: string, p: Progress & { status?: string }): { lines: string[]; json: Record<string, string> } {
  const lines: string[] = [];
  const json: Record<string, string> = {};
  const next = nextSteps(name, p);
  if (next) {
    lines.push(`  next:      ${next}`);
    json.next = next;
  }
  const problem = definitionProblem(name);
  if (problem) {
    lines.push(`  definition: does not load, so workers skip it and its activities fail until it is fixed: ${problem}`);
    json.definitionError = problem;
  }
  return { lines, json };
}

/** The next steps after a run that ended without completing; undefined while it runs or when it completed. */
function nextSteps(name: string, p: Progress & { status?: string }): string | undefined {
  const rollback = `"ferry abort ${name} --rollback" drops ferry's trigger and runs expand.down`;
  const resume = `"ferry start ${name}" starts it again, resuming from its checkpoints when the definition is unchanged`;
  if (p.phase === 'failed') return `fix the cause (see error), then "ferry start ${name}" starts it again; or ${rollback}.`;
  if (p.phase === 'cancelled') return undefined; // the cancelled line says it
  if (p.status === 'TERMINATED' || p.status === 'TIMED_OUT' || p.status === 'CANCELLED' || p.status === 'FAILED') {
    if (p.phase === 'completed' || p.phase === 'aborted') return undefined;
    const how = p.status === 'TERMINATED' ? 'terminated (Temporal)' : p.status.toLowerCase();
    if (p.phase === 'contracting') return `the run was ${how} while contracting; "ferry start ${name}" runs the contract to its end.`;
    return `the run was ${how} in ${p.phase}; the schema stays as it is. ${resume}; or ${rollback}.`;
  }
  return undefined;
}
