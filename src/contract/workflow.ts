/**
 * The migration workflow as clients see it: its type name (part of every recorded history and of
 * `temporal workflow list --query 'WorkflowType = "migrationWorkflow"'`) and its signature.
 */
import type { AuditEntry, MigrationInput, MigrationState } from './migration';
import type { Phase } from './phases';
import type { Progress } from './progress';

/** The workflow type: `migrationWorkflow`, one workflow per migration, id `migration/<name>`. */
export const MIGRATION_WORKFLOW = 'migrationWorkflow';

/** `migrationWorkflow(input, resumed?)`: `resumed` is the state handed over by continue-as-new. */
export type MigrationWorkflow = (input: MigrationInput, resumed?: MigrationState) => Promise<Progress>;

/**
 * The workflow type of `ferry abort --rollback` on a migration whose run is over (failed,
 * cancelled, terminated, or aborted without rollback): a short run under the same id
 * `migration/<name>` that runs the `rollback` activity and ends in phase `aborted`.
 */
export const ROLLBACK_WORKFLOW = 'rollbackWorkflow';

/** The run a rollback follows: how it ended, and its audit trail (carried over for `ferry history`). */
export interface EndedRun {
  runId: string;
  /** Temporal's status of the run: FAILED, CANCELED, TERMINATED, TIMED_OUT, COMPLETED. */
  status: string;
  /** Its last phase (search attribute `MigrationPhase`). */
  phase: Phase;
  audit: AuditEntry[];
}

/** What `ferry abort --rollback` hands `rollbackWorkflow`: names, who and why; never a secret. */
export interface RollbackInput {
  name: string;
  /** The table as `"schema"."name"`. */
  table: string;
  /** The spec hash the ended run was started with: the worker rolls back that definition. */
  specHash: string;
  by: string;
  reason: string;
  previous: EndedRun;
  /** As `MigrationInput.missingSearchAttributes`: the attributes the namespace lacks, not upserted. */
  missingSearchAttributes?: string[];
}

/** `rollbackWorkflow(input)`: returns the final progress (phase `aborted`). */
export type RollbackWorkflow = (input: RollbackInput) => Promise<Progress>;
