/**
 * Seed 004 (GitLab): `services.properties` holds a JSON blob; its "url" key moves to its own
 * column. A row whose JSON is invalid is recorded in ferry.failed_rows and skipped, never retried
 * forever; the old column is dropped at contract.
 *
 * Before: services(id bigserial PRIMARY KEY, properties text).
 */
import { defineMigration } from 'ferry';

export default defineMigration({
  table: 'services',
  expand: {
    up: 'ALTER TABLE services ADD COLUMN IF NOT EXISTS url text',
    down: 'ALTER TABLE services DROP COLUMN IF EXISTS url',
  },
  backfill: {
    // Rows still to do. The JSON is parsed only in `set`, so a bad row fails its own update
    // (and is isolated) instead of failing every query that looks for rows to do.
    where: 'url IS NULL AND properties IS NOT NULL',
    set: "url = COALESCE(properties::json->>'url', '')",
    maxFailedRows: 1000,
  },
  contract: { up: 'ALTER TABLE services DROP COLUMN IF EXISTS properties' },
});
