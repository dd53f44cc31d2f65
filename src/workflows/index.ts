/** The workflows a ferry worker registers. */
export { migrationWorkflow } from './migration';
export { rollbackWorkflow } from './rollback';
