/**
 * The schema that holds ferry's own tables (checkpoints, failed rows, completed migrations,
 * deploy marks, schema_migrations) and the dual-write trigger functions. Its tables are created
 * and upgraded by the numbered files in src/store/migrations, applied by `migrateStore`
 * (src/store/migrate.ts) at worker start-up and by `ferry setup`.
 */
export const STORE_SCHEMA = 'ferry';
