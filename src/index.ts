/**
 * ferry's public API for migration authors: `import { defineMigration } from 'ferry'`.
 */
export { defineMigration, validateDefinition } from './define';
export type { MigrationDefinition, MigrationDefinitionInput, ProcessContext, Row } from './define';
export { FerryError, EXIT } from './errors';
