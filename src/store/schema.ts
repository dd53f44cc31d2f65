import type { Pool, PoolClient } from 'pg';

/**
 * The schema that holds ferry's own tables (checkpoints, failed rows, completed migrations,
 * deploy marks, schema_migrations) and the dual-write trigger functions. Its tables are created
 * and upgraded by the numbered files in src/store/migrations, applied by `migrateStore`
 * (src/store/migrate.ts) at worker start-up and by `ferry setup`.
 */
export const STORE_SCHEMA = 'ferry';

/**
 * @deprecated Does nothing. ferry's schema is versioned now and applied once at worker start-up
 * (`migrateStore`), not before each activity. Kept only until src/activities/backfill.ts drops
 * its call (its owner removes it in a parallel change); then delete this function.
 */
export async function ensureStateSchema(_db: Pool | PoolClient): Promise<void> {}
