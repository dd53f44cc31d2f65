/**
 * Seed 001 (WeWork): posts point at their author by an integer `member_id`; the new shape is the
 * member's UUID, `member_uuid`, which identifies a member across systems.
 *
 * Before: members(id serial PRIMARY KEY, uuid uuid NOT NULL), posts(id bigserial PRIMARY KEY, member_id int REFERENCES members, ...).
 * Deploy 1 (after expand): the application writes member_uuid whenever it writes member_id.
 * Deploy 2 (before contract): the application reads member_uuid only.
 */
import { defineMigration } from 'ferry';

export default defineMigration({
  table: 'posts',
  expand: {
    up: 'ALTER TABLE posts ADD COLUMN IF NOT EXISTS member_uuid uuid',
    down: 'ALTER TABLE posts DROP COLUMN IF EXISTS member_uuid',
  },
  dualWrite: { by: 'app' },
  backfill: {
    where: 'member_uuid IS NULL AND member_id IS NOT NULL',
    set: 'member_uuid = (SELECT m.uuid FROM members m WHERE m.id = posts.member_id)',
    batchSize: 2000,
  },
  verify: {
    where: 'member_id IS NOT NULL AND member_uuid IS DISTINCT FROM (SELECT m.uuid FROM members m WHERE m.id = posts.member_id)',
  },
  contract: { up: 'ALTER TABLE posts DROP COLUMN IF EXISTS member_id', after: '7d' },
});
