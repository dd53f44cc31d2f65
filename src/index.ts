/**
 * ferry's public API for migration authors: `import { defineMigration } from 'ferry'`.
 */
export { defineMigration, validateDefinition } from './definition/define';
export type { MigrationDefinition, MigrationDefinitionInput, ProcessContext, Row } from './definition/define';
export { FerryError, EXIT } from './contract/errors';
