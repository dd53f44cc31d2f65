-- 0005_checkpoint_moved: raises what ferry.advance_checkpoint (0004) raises when its guard finds
-- nothing, for the set-mode batch transaction that goes to PostgreSQL as one statement
-- (src/sql/checkpointed-batch.ts). That statement advances the checkpoint in a data-modifying CTE
-- guarded by pass and batch count; when a new pass (or another attempt) moved the checkpoint after
-- the statement's snapshot was taken, the advance updates no row while the batch's rows are already
-- changed, and the statement calls this function, which aborts the transaction (SQLSTATE ZF001) so
-- that the COMMIT sent after it does not run and the rows roll back. It returns nothing else.

CREATE FUNCTION ferry.checkpoint_moved(p_migration text, p_run_id text, p_partition int)
RETURNS boolean LANGUAGE plpgsql VOLATILE AS $fn$
BEGIN
  RAISE EXCEPTION 'ferry: the checkpoint of migration "%" partition % moved under the batch', p_migration, p_partition
    USING ERRCODE = 'ZF001', HINT = 'another attempt or a new pass advanced it; this transaction rolls back.';
END
$fn$;
COMMENT ON FUNCTION ferry.checkpoint_moved(text, text, int) IS
  'Raises ZF001: the checkpoint moved under a set-mode batch statement, which then rolls back.';
