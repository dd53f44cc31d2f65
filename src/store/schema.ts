import type { Pool, PoolClient } from 'pg';

/**
 * ferry's own state, in schema `ferry` of the target database: the backfill checkpoints (written
 * in the same transaction as each batch, so a batch takes effect once even across crashes) and
 * the rows whose change failed. Created on first use; safe to run concurrently.
 */
export const STATE_SCHEMA = 'ferry';

const DDL = `
CREATE SCHEMA IF NOT EXISTS ferry;
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
COMMENT ON TABLE ferry.failed_rows IS
  'Rows whose backfill change failed; skipped and kept here with their error.';
`;

/** A lock id for serialising ferry's own DDL (`'ferry'` as bytes). */
const STATE_LOCK_ID = 0x6665727279;

/**
 * Creates ferry's state tables if they are missing. Idempotent and safe to call concurrently: the
 * statements run as one implicit transaction under an advisory lock.
 */
export async function ensureStateSchema(db: Pool | PoolClient): Promise<void> {
  await db.query(`SELECT pg_advisory_xact_lock(${STATE_LOCK_ID}); ${DDL}`);
}

/** When a migration's contract ran, if it did: ferry's permanent record of it. */
export async function completedRecord(db: Pool | PoolClient, migration: string): Promise<{ specHash: string; completedAt: string } | undefined> {
  const { rows } = await db.query(
    `SELECT spec_hash, completed_at FROM ferry.completed_migrations WHERE migration = $1::text`,
    [migration],
  );
  return rows[0] ? { specHash: rows[0].spec_hash, completedAt: new Date(rows[0].completed_at).toISOString() } : undefined;
}

/** Records that a migration's contract ran (idempotent: the first record stays). */
export async function recordCompleted(db: Pool | PoolClient, migration: string, specHash: string): Promise<void> {
  await db.query(
    `INSERT INTO ferry.completed_migrations (migration, spec_hash) VALUES ($1::text, $2::text) ON CONFLICT (migration) DO NOTHING`,
    [migration, specHash],
  );
}
