/**
 * `ferry.latency_probes`: the commit probe of `backfill.health.latency` (`commit: true`). The
 * canary's thread (src/health/canary-thread.ts) runs these statements on a connection of its own
 * under `synchronous_commit = on`: one row per probe thread, rewritten on each sample so that the
 * sample's round trip includes a commit's WAL flush, and deleted when the thread stops.
 */

/**
 * One commit probe sample: the probe's own row (`$1`, its key) written in an autocommit
 * transaction. It must write: a transaction that writes no WAL (`SELECT txid_current()`) is
 * committed without waiting for the flush.
 */
export const COMMIT_PROBE_UPSERT = `INSERT INTO ferry.latency_probes (probe) VALUES ($1::text)
ON CONFLICT (probe) DO UPDATE SET commits = ferry.latency_probes.commits + 1, updated_at = now()`;

/**
 * What a commit probe runs once as it connects: the rows of probes that stopped writing an hour
 * ago go (a worker that was killed never deleted its row; a live probe rewrites its own 20 times a
 * second).
 */
export const COMMIT_PROBE_PRUNE = `DELETE FROM ferry.latency_probes WHERE updated_at < now() - interval '1 hour'`;

/** What a stopping commit probe runs: its row (`$1`) goes. */
export const COMMIT_PROBE_DELETE = `DELETE FROM ferry.latency_probes WHERE probe = $1::text`;
