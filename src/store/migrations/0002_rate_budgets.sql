-- 0002_rate_budgets: one row per migration with backfill.rateLimit: the token bucket that every
-- worker process of the migration draws from, so that rateLimit.perSecond is the migration's
-- budget, not each worker's. `due` is the bucket in GCRA form: the time at which every call
-- granted so far would have been paid for; it is moved forward atomically by each reservation
-- (src/store/rate-budgets.ts), with the database's clock, so workers' clocks never matter.

CREATE TABLE ferry.rate_budgets (
  migration  text        NOT NULL PRIMARY KEY,
  due        timestamptz NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE ferry.rate_budgets IS
  'backfill.rateLimit shared by all workers of a migration: a token bucket as its next free time (GCRA).';
