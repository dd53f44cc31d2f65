-- 0001_initial: ferry's state tables as ferry 0.1.0 created them (unversioned, before each
-- activity). Schema "ferry" itself is created by the runner (src/store/migrate.ts), which keeps
-- ferry.schema_migrations in it.
--
-- IF NOT EXISTS appears here, and only here, because this file must adopt an existing 0.1.0
-- install: there the tables already exist (with live checkpoints and failed rows) and this file
-- records them as version 1 without touching their data. Later files are plain DDL: each runs
-- exactly once, in its own transaction, recorded in ferry.schema_migrations.

CREATE TABLE IF NOT EXISTS ferry.backfill_checkpoints (
  migration      text        NOT NULL,
  run_id         text        NOT NULL,
  partition      int         NOT NULL,
  pass           int         NOT NULL DEFAULT 1,
  lower_key      text[],
  upper_key      text[],
  last_key       text[],
  rows_scanned   bigint      NOT NULL DEFAULT 0,
  rows_updated   bigint      NOT NULL DEFAULT 0,
  rows_failed    bigint      NOT NULL DEFAULT 0,
  batches        bigint      NOT NULL DEFAULT 0,
  batch_size     int,
  done           boolean     NOT NULL DEFAULT false,
  stop_requested boolean     NOT NULL DEFAULT false,
  updated_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (migration, run_id, partition)
);
COMMENT ON TABLE ferry.backfill_checkpoints IS
  'One row per backfill partition: lower_key (exclusive) .. upper_key (inclusive), last_key done.';

CREATE TABLE IF NOT EXISTS ferry.failed_rows (
  migration  text        NOT NULL,
  run_id     text        NOT NULL,
  key        text[]      NOT NULL,
  sqlstate   text,
  error      text        NOT NULL,
  failed_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (migration, run_id, key)
);
COMMENT ON TABLE ferry.failed_rows IS
  'Rows whose backfill change failed; skipped and kept here with their error.';

CREATE TABLE IF NOT EXISTS ferry.completed_migrations (
  migration    text        PRIMARY KEY,
  spec_hash    text        NOT NULL,
  completed_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE ferry.completed_migrations IS
  'Migrations whose contract ran: the permanent record, kept after Temporal forgets the workflow.';

CREATE TABLE IF NOT EXISTS ferry.deploy_marks (
  migration  text        NOT NULL,
  run_id     text        NOT NULL,
  xid_mark   text        NOT NULL,
  max_key    text[],
  marked_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (migration, run_id)
);
COMMENT ON TABLE ferry.deploy_marks IS
  'When the deploy signal was handled: the transaction id and the largest key then; the probe reads rows inserted after it.';
