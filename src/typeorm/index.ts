/**
 * ferry for TypeORM applications: `import { ferryMigration, dualWriteSubscriber } from 'ferry/typeorm'`.
 * See the README's "With TypeORM".
 */
export { ferryMigration, type FerryMigrationOptions } from './migration';
export { connectionSource, loadDataSource, poolConfigOf } from './connection';
export { dualWriteSubscriber } from './subscriber';
export { generateMigration, parseRename, type GenerateOptions, type GenerateResult } from './generate';
