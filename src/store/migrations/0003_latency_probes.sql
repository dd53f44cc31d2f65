-- 0003_latency_probes: the commit probe of backfill.health.latency ({ commit: true }). Its thread
-- (src/health/canary-thread.ts) writes its own row here several times a second, each in an
-- autocommit transaction under synchronous_commit = on, and times the round trip: the commit waits
-- for the WAL flush as the application's own writes do, which a backfill's WAL volume slows. A
-- transaction that writes nothing (SELECT txid_current()) commits without waiting for the flush,
-- so the probe needs a real row to write, and ferry writes only in its own schema.
--
-- One row per running probe thread, keyed by migration, host, process and thread (no secrets);
-- the thread deletes its row when it stops. A row whose process was killed stays, and is harmless.

CREATE TABLE ferry.latency_probes (
  probe      text        PRIMARY KEY,
  commits    bigint      NOT NULL DEFAULT 0,
  updated_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE ferry.latency_probes IS
  'backfill.health.latency commit probes: one row per probe thread, rewritten on each sample to time a commit (WAL flush).';
