/**
 * The activities of a migration as the workflow sees them: their names, inputs, results and
 * heartbeats. `src/activities/` implements this interface; the workflow proxies it. Names are part
 * of every recorded history: renaming one breaks the replay of running migrations.
 *
 * Inputs, results and heartbeats carry names and counters only, never key values, row data or
 * connection settings: the Web UI shows all of them.
 */
import type { Wait } from './migration';

/** Names a migration and the definition it was started with; every activity input has these. */
export interface MigrationRef {
  name: string;
  specHash: string;
}

/** A migration and its run: names the run's checkpoints, failed rows and deploy mark. */
export type RunInput = MigrationRef & { runId: string };

/** Names one run's checkpoints. */
export interface RunRef {
  name: string;
  runId: string;
}

/** DDL statements run and lock-timeout retries taken. */
export interface StatementsRun {
  /** Every statement run, ferry's trigger's included. */
  statements: number;
  retries: number;
  /** Of `statements`, those ferry ran for its dual-write trigger (absent in results of older workers). */
  triggerStatements?: number;
}

/**
 * What `describeTarget` found: the table (quoted), its key columns and its estimated rows; or,
 * for a migration whose contract already ran, when (`ferry.completed_migrations`).
 */
export interface TargetDescription {
  table: string;
  key: string[];
  rowsEstimated: number;
  completedAt?: string;
}

/** Input of `probeDualWrite`: the migration, its run, and the mark taken by `markDeploy`. */
export type ProbeInput = RunInput & { xidMark: string };

/** What the dual-write probe counted. */
export interface ProbeResult {
  badRows: number;
  checkedRows: number;
  skipped: boolean;
}

/** Input of `initBackfill`. `runId` names this run's checkpoints; `pass` is 1, then 2.. for catch-ups. */
export type InitBackfillInput = RunInput & { pass: number };

/**
 * Input of `backfillChunk`: one partition, for at most `maxMs`. `maxRowsPerSec` (deadline mode)
 * caps this chunk's rate of rows scanned: it sleeps between batches to stay below it.
 */
export type BackfillChunkInput = RunInput & { partition: number; maxMs: number; maxRowsPerSec?: number };

/** Why `backfillChunk` returned. */
export type ChunkStop = 'done' | 'time' | 'stop-requested' | 'superseded' | 'cancelled';

/** What one `backfillChunk` did: counters only (the Web UI shows it). */
export interface ChunkResult {
  rowsScanned: number;
  rowsUpdated: number;
  rowsFailed: number;
  batches: number;
  elapsedMs: number;
  batchMsMedian: number;
  /** Rows the next batch would take: the adaptive sizer's current size (capped by `maxRowsPerSec`). */
  batchSize: number;
  /** Present (true) when `backfill.minBatchSize` equals `maxBatchSize`: every batch has `batchSize` rows. */
  batchSizeFixed?: boolean;
  /** Time spent waiting for the database to be healthy (see `backfill.health`). */
  throttledMs: number;
  /**
   * Why it last held back: waited for health, e.g. `replica lag 7.2s > 5s on standby1`, or shrank
   * its batches because one blocked the application (see `contendedMs`); absent when it never did.
   */
  throttleReason?: string;
  /** Duration of the batches that blocked other sessions (they waited for the batch's row locks). */
  contendedMs: number;
  /** How many batches blocked other sessions; each one shrank the next batch. */
  contendedBatches: number;
  done: boolean;
  /**
   * `cancelled` is part of the contract for the workflow's sake but not returned today: on
   * cancellation the chunk finishes its batch and rethrows, so Temporal retries it elsewhere.
   */
  stopped: ChunkStop;
}

/** The heartbeat of a chunk, sent after every batch and while a long batch runs. */
export interface ChunkHeartbeat {
  partition: number;
  rowsScanned: number;
  rowsUpdated: number;
  rowsFailed: number;
  batches: number;
  batchSize: number;
  throttledMs: number;
  /** Present once the chunk has waited for health or shrunk for contention: the last reason. */
  throttleReason?: string;
  contendedMs: number;
  contendedBatches: number;
}

/** Counters of a run summed over its partitions. */
export interface BackfillStatus {
  rowsScanned: number;
  rowsUpdated: number;
  rowsFailed: number;
  done: boolean;
}

/** What `verify` counted. */
export interface VerifyResult {
  /** Rows matching `verify.where ?? backfill.where`, failed rows excluded. */
  wrongRows: number;
  /** Rows recorded in `ferry.failed_rows` for this run. */
  failedRows: number;
  /** Rows read. */
  checkedRows: number;
  /** Range statements run. */
  ranges: number;
}

/**
 * What `retryFailedRows` did to the run's recorded failed rows: counts only (the rows' keys and
 * errors stay in `ferry.failed_rows`).
 */
export interface RetryFailedResult {
  /** Rows re-run (recorded before the retry). */
  retried: number;
  /** Rows that now succeed, or no longer match `backfill.where` (fixed by hand, deleted): removed from the list. */
  fixed: number;
  /** Rows that still fail: kept, with their new error. */
  remaining: number;
}

/**
 * Input of `checkTurn`: the migration and its workflow id (the start of its chain's first run, read
 * from Temporal, orders migrations changing the same columns).
 */
export type TurnInput = MigrationRef & { workflowId: string };

/** What `checkTurn` found: ready to expand, or what it waits for (names and phases only). */
export interface TurnResult {
  ready: boolean;
  waits: Wait[];
}

/** Every activity of a migration, by the name Temporal records. One file per phase implements them. */
export interface MigrationActivities {
  /** Checks the table and key, estimates rows; or says the contract already ran. Changes nothing. */
  describeTarget(ref: MigrationRef): Promise<TargetDescription>;
  /** Runs `expand.up` (and installs ferry's trigger in trigger mode). */
  expand(ref: MigrationRef): Promise<StatementsRun>;
  /** Installs ferry's dual-write trigger when the migration asks for one. */
  installDualWriteTrigger(ref: MigrationRef): Promise<StatementsRun>;
  /** Drops ferry's dual-write trigger and its function if they exist. */
  dropDualWriteTrigger(ref: MigrationRef): Promise<StatementsRun>;
  /** Records the deploy mark (a transaction id; the largest key stays in PostgreSQL). */
  markDeploy(input: RunInput): Promise<{ xidMark: string }>;
  /** Counts rows inserted after the deploy mark in the old shape only. */
  probeDualWrite(input: ProbeInput): Promise<ProbeResult>;
  /** Creates (or resets for a new pass) the run's partitions. */
  initBackfill(input: InitBackfillInput): Promise<{ partitions: number; rowsEstimated: number }>;
  /** Processes batches of one partition for at most `maxMs`. */
  backfillChunk(input: BackfillChunkInput): Promise<ChunkResult>;
  /** Asks every partition of the run to stop after its current batch. */
  requestStop(input: RunRef): Promise<void>;
  /** The run's counters summed over partitions. */
  backfillStatus(input: RunRef): Promise<BackfillStatus>;
  /** Counts the rows that are still wrong. */
  verify(input: RunInput): Promise<VerifyResult>;
  /**
   * Re-runs the run's recorded failed rows (`set` or `process` on exactly those keys, row by row);
   * removes the ones that now succeed or no longer match `backfill.where`, keeps the others.
   */
  retryFailedRows(input: RunInput): Promise<RetryFailedResult>;
  /** Drops ferry's trigger, runs `contract.up`, records the migration as completed. */
  contract(ref: MigrationRef): Promise<StatementsRun>;
  /** Drops ferry's trigger and runs `expand.down`. */
  rollback(ref: MigrationRef): Promise<StatementsRun>;
  /**
   * May the migration expand now? Not while a migration of its `after` has not completed (or
   * reached the named phase), nor while a migration started earlier runs whose DDL changes the
   * same table's columns. Reads Temporal and `ferry.completed_migrations`; changes nothing.
   */
  checkTurn(input: TurnInput): Promise<TurnResult>;
}
