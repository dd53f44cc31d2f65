/**
 * The migration workflow as clients see it: its type name (part of every recorded history and of
 * `temporal workflow list --query 'WorkflowType = "migrationWorkflow"'`) and its signature.
 */
import type { MigrationInput, MigrationState } from './migration';
import type { Progress } from './progress';

/** The workflow type: `migrationWorkflow`, one workflow per migration, id `migration/<name>`. */
export const MIGRATION_WORKFLOW = 'migrationWorkflow';

/** `migrationWorkflow(input, resumed?)`: `resumed` is the state handed over by continue-as-new. */
export type MigrationWorkflow = (input: MigrationInput, resumed?: MigrationState) => Promise<Progress>;
