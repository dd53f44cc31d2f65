/**
 * Seed 002 (VTS): a computed value is cached in its own column so it is not recomputed on every
 * read. The column is added, kept in sync by a ferry trigger while the backfill fills existing
 * rows in the background (no deploy wait), and at contract the trigger makes way for the
 * application, which writes the column itself from then on.
 *
 * Before: orders(id bigserial PRIMARY KEY, price_cents int NOT NULL, quantity int NOT NULL).
 */
import { defineMigration } from 'ferry';

export default defineMigration({
  table: 'orders',
  expand: {
    up: 'ALTER TABLE orders ADD COLUMN IF NOT EXISTS total_cents bigint',
    down: 'ALTER TABLE orders DROP COLUMN IF EXISTS total_cents',
  },
  dualWrite: { by: 'trigger', body: 'NEW.total_cents := NEW.price_cents::bigint * NEW.quantity;' },
  backfill: {
    where: 'total_cents IS NULL',
    set: 'total_cents = price_cents::bigint * quantity',
  },
  verify: { where: 'total_cents IS DISTINCT FROM price_cents::bigint * quantity' },
  contract: {
    up: "COMMENT ON COLUMN orders.total_cents IS 'price_cents * quantity; written by the application'",
    after: '1d',
    approval: false,
  },
});
