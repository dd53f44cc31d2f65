/**
 * Seed 004 (GitLab): `services.properties` holds a JSON blob; its "url" key moves to its own
 * column, exactly as the document does it (`service.update(url: json['url']) if json['url']`): a
 * row whose JSON has no "url" keeps NULL, and a row whose JSON is invalid is recorded in
 * ferry.failed_rows and skipped, never retried forever. The old column is dropped at contract.
 *
 * No sentinel value marks a row as done: the pass's key-range checkpoint records which rows it
 * visited, and `verify.where` says which rows are wrong, so a NULL that is right stays NULL.
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
    // Rows a pass visits. It does not parse the JSON: a bad row fails its own update (and is
    // isolated) instead of failing every query that looks for rows to do. A row without a "url"
    // still matches after its update (url stays NULL): a catch-up pass writes NULL to it again,
    // which changes nothing, and moves on; verify does not count it.
    where: 'url IS NULL AND properties IS NOT NULL',
    set: "url = properties::json->>'url'",
    maxFailedRows: 1000,
  },
  verify: {
    // Rows that are wrong: the column differs from the JSON's "url" (NULL when it has none).
    // ferry evaluates this only on rows not recorded as failed, so the invalid JSON of recorded
    // rows is never parsed here.
    where: "properties IS NOT NULL AND url IS DISTINCT FROM (properties::json->>'url')",
  },
  contract: { up: 'ALTER TABLE services DROP COLUMN IF EXISTS properties' },
});
