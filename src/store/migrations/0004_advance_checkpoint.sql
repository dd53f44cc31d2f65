-- 0004_advance_checkpoint: a batch transaction's last statement as a function, so that it can go
-- with the transaction's COMMIT in one round trip (src/store/checkpoints.ts `advanceAndCommit`).
-- It records the batch on its partition's checkpoint only while the checkpoint is still where the
-- batch found it (pass and batch count); when something else moved it (a new pass, another
-- attempt) it raises SQLSTATE ZF001, which aborts the transaction, so the COMMIT sent after it
-- never runs and the batch's rows roll back with it. It returns whether a stop was requested and,
-- when asked, how many sessions wait for a lock this transaction holds (row locks are held until
-- COMMIT, so everyone queued behind one of the batch's rows is still waiting now; reading the lock
-- table takes every lock-manager partition, so a batch asks once, in its last transaction). When
-- the batch transactions commit with synchronous_commit = off, the one that finishes the partition
-- commits with it on, which also flushes every earlier asynchronous commit of the partition.

CREATE FUNCTION ferry.advance_checkpoint(
  p_migration text, p_run_id text, p_partition int, p_last_key text[],
  p_scanned bigint, p_updated bigint, p_failed bigint, p_batch_size int, p_done boolean,
  p_pass int, p_batches bigint, p_count_blocked boolean,
  OUT stop_requested boolean, OUT blocked int)
LANGUAGE plpgsql AS $fn$
BEGIN
  UPDATE ferry.backfill_checkpoints c SET
    last_key = COALESCE(p_last_key, c.last_key), rows_scanned = c.rows_scanned + p_scanned,
    rows_updated = c.rows_updated + p_updated, rows_failed = c.rows_failed + p_failed,
    batches = c.batches + 1, batch_size = p_batch_size, done = p_done, updated_at = now()
  WHERE c.migration = p_migration AND c.run_id = p_run_id AND c.partition = p_partition
    AND c.pass = p_pass AND c.batches = p_batches
  RETURNING c.stop_requested INTO stop_requested;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'ferry: the checkpoint of migration "%" partition % moved under the batch', p_migration, p_partition
      USING ERRCODE = 'ZF001', HINT = 'another attempt or a new pass advanced it; this transaction rolls back.';
  END IF;
  blocked := 0;
  IF p_count_blocked THEN
    SELECT count(*)::int INTO blocked FROM (SELECT DISTINCT pid FROM pg_locks WHERE NOT granted) w
     WHERE pg_backend_pid() = ANY(pg_blocking_pids(w.pid));
  END IF;
  IF p_done AND current_setting('synchronous_commit') = 'off' THEN
    PERFORM set_config('synchronous_commit', 'on', true);
  END IF;
END
$fn$;
COMMENT ON FUNCTION ferry.advance_checkpoint(text, text, int, text[], bigint, bigint, bigint, int, boolean, int, bigint, boolean) IS
  'Records a batch transaction on its checkpoint, guarded by pass and batch count; raises ZF001 when the checkpoint moved.';
