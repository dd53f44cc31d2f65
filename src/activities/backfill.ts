import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Pool, PoolClient } from 'pg';
import type { ProcessContext, Row } from '../definition/define';
import { ensureStateSchema } from '../store/schema';
import { describeTable, type TableInfo } from '../pg/catalog';
import { inTransaction } from '../pg/pool';
import { formatDuration, parseDuration } from '../contract/duration';
import { createRateLimiter, type RateLimit } from '../engine/rate-limiter';
import { adaptiveBatchSizer, type BatchSizer } from '../engine/batch-size';
import { pacedBatchSize, paceDelayMs } from '../engine/pacing';
import { DEFAULT_BACKOFF, waitUntilHealthy, type ThrottleBackoff, type Unhealthy } from '../engine/throttle';
import { backfillTuning, type BackfillTuning } from '../engine/tuning';
import { createHealthGate, type HealthGate, type HealthGateOptions } from '../health/gate';
import { healthChecks } from '../health/settings';
import type { FerryMetrics } from '../metrics';
import type { LoadedMigration } from '../definition/registry';
import * as sql from '../sql/backfill';
import { getMigration, toFailure, type ActivityDeps } from './context';
import type { BackfillChunkInput, BackfillStatus, ChunkHeartbeat, ChunkResult, ChunkStop, InitBackfillInput, RunRef } from '../contract/activities';
export type { BackfillChunkInput, ChunkResult, ChunkHeartbeat } from '../contract/activities';

/**
 * The backfill engine: checkpointed, time-boxed chunks of batches over one partition of the key.
 *
 * Each batch is one transaction that takes the partition's lock, checks that nobody else advanced
 * its checkpoint (a zombie attempt or a retry), applies the batch and moves the checkpoint. So a
 * batch takes effect exactly once, even across SIGKILL and retries, and Postgres — not Temporal's
 * heartbeat details — holds the authoritative cursor. Heartbeats and results carry counters only:
 * the Web UI shows them, so never key values, row data or error texts.
 */



export { adaptiveBatchSizer, fixedBatchSizer, type BatchSizer } from '../engine/batch-size';

/** Options of `createBackfillActivities`. */
export interface BackfillOptions {
  /**
   * A sizer per partition (kept across its chunks on this worker); default `adaptiveBatchSizer`
   * on `backfillTuning(definition.backfill)`. `fixedBatchSizer(batchSize)` keeps every batch the same.
   * `start` is the size of the partition's last batch from its checkpoint, when there was one.
   */
  batchSizer?: (migration: LoadedMigration, start?: number) => BatchSizer;
  /** Health gate settings (cache, per-check timeout) and the backoff of its waits; tests shorten them. */
  health?: HealthGateOptions & { backoff?: Partial<ThrottleBackoff> };
  /** Batches in a row that may hit lock_timeout/statement_timeout before the chunk fails (retryable); default 5. */
  timeoutRetries?: number;
}



/**
 * The backfill activities, bound to the worker's pool and migrations.
 * @example
 * const worker = await Worker.create({ activities: { ...createBackfillActivities(deps) }, ... });
 */
export function createBackfillActivities(deps: ActivityDeps, options: BackfillOptions = {}) {
  const shared = chunkResources(deps, options);

  return {
    /**
     * Creates the run's partitions (checkpoint rows) unless they exist; a greater `pass` restarts
     * every partition from the beginning, keeping the counters. Safe to run twice.
     */
    async initBackfill(input: InitBackfillInput): Promise<{ partitions: number; rowsEstimated: number }> {
      try {
        return await initBackfill(deps, input);
      } catch (err) {
        throw toFailure(err);
      }
    },

    /** Processes batches of one partition for at most `maxMs`; see `ChunkResult.stopped` for why it returned. */
    async backfillChunk(input: BackfillChunkInput): Promise<ChunkResult> {
      try {
        checkChunkInput(input);
        const migration = getMigration(deps, input);
        const table = await describeTable(deps.pool, migration.definition.table, migration.definition.key);
        const sizerFor = (start?: number) => shared.sizer(migration, input, start);
        const parts = { table, sizerFor, rateLimit: shared.limiter(migration), gate: shared.gate(migration, table) };
        const result = await runChunk(chunkEnv(deps, options, input, migration, parts));
        if (result.done) shared.forget(migration, input);
        return result;
      } catch (err) {
        throw toFailure(err);
      }
    },

    /** Asks every partition of the run to stop after its current batch (how pause works). */
    async requestStop(input: RunRef): Promise<void> {
      await deps.pool.query(sql.REQUEST_STOP, [input.name, input.runId]);
    },

    /** The run's counters summed over partitions, to re-sync the workflow after a crash. */
    async backfillStatus(input: RunRef): Promise<BackfillStatus> {
      const { rows } = await deps.pool.query(sql.SUM_COUNTERS, [input.name, input.runId]);
      const r = rows[0];
      return { rowsScanned: r.rows_scanned, rowsUpdated: r.rows_updated, rowsFailed: r.rows_failed, done: r.done };
    },
  };
}

/** The default sizer: adaptive, aiming at `backfill.targetBatchMs`, from `start` (else `backfill.batchSize`). */
function defaultSizer(m: LoadedMigration, start?: number): BatchSizer {
  const t = backfillTuning(m.definition.backfill);
  return adaptiveBatchSizer({ start: start ?? t.startSize, targetMs: t.targetBatchMs, min: t.minBatchSize, max: t.maxBatchSize });
}

/**
 * What the chunks of one worker share: a rate limiter and a health gate per migration (so the
 * partitions of one migration share the limit and one round of checks), and a sizer per partition
 * (so the next chunk starts at the size the last one reached; on another worker, at the size its
 * checkpoint recorded).
 */
function chunkResources(deps: ActivityDeps, options: BackfillOptions) {
  const limiters = new Map<string, RateLimit>();
  const gates = new Map<string, HealthGate>();
  const sizers = new Map<string, BatchSizer>();
  const newSizer = options.batchSizer ?? defaultSizer;
  const partitionKey = (m: LoadedMigration, i: BackfillChunkInput) => `${m.name}/${m.specHash}/${i.runId}/${i.partition}`;
  return {
    limiter: (m: LoadedMigration) => cached(limiters, m.name, () => createRateLimiter(m.definition.backfill.rateLimit?.perSecond)),
    gate: (m: LoadedMigration, table: TableInfo) =>
      cached(gates, `${m.name}/${m.specHash}`, () => createHealthGate(deps.pool, healthChecks(table.quoted, m.definition.backfill), options.health)),
    sizer: (m: LoadedMigration, input: BackfillChunkInput, start?: number) => cached(sizers, partitionKey(m, input), () => newSizer(m, start)),
    forget: (m: LoadedMigration, input: BackfillChunkInput) => sizers.delete(partitionKey(m, input)),
  };
}

/** `map.get(key)`, made and stored on a miss; the oldest entry goes beyond 1000 (runs that never finished). */
function cached<T>(map: Map<string, T>, key: string, make: () => T): T {
  let value = map.get(key);
  if (value === undefined) {
    map.set(key, (value = make()));
    if (map.size > 1000) map.delete(map.keys().next().value as string);
  }
  return value;
}

/** Rejects a `maxRowsPerSec` that is not a positive number: a workflow bug, so not retryable. */
function checkChunkInput(input: BackfillChunkInput): void {
  const rate = input.maxRowsPerSec;
  if (rate === undefined || (Number.isFinite(rate) && rate > 0)) return;
  throw ApplicationFailure.nonRetryable(
    `backfillChunk of migration "${input.name}" got maxRowsPerSec ${rate}; it must be a positive number of rows a second, or absent for no limit.`,
    'BAD_INPUT',
  );
}

/* ---------------------------------------------------------------- initBackfill and partitions */

/** A partition's bounds: lower exclusive, upper inclusive, each a (possibly partial) key or null. */
export interface PartitionBounds {
  lower: string[] | null;
  upper: string[] | null;
}

async function initBackfill(deps: ActivityDeps, input: InitBackfillInput) {
  const { definition } = getMigration(deps, input);
  await ensureStateSchema(deps.pool);
  const table = await describeTable(deps.pool, definition.table, definition.key);
  const partitions = await inTransaction(deps.pool, async (client) => {
    await client.query(sql.LOCK_RUN, [input.name, input.runId]);
    const { rows } = await client.query(sql.SELECT_PARTITIONS, [input.name, input.runId]);
    if (rows.length > 0) {
      await client.query(sql.RESET_PASS, [input.name, input.runId, input.pass]);
      return rows.length;
    }
    const bounds = await splitKeyRange(client, table, definition.backfill.concurrency);
    for (const [i, b] of bounds.entries()) {
      await client.query(sql.INSERT_PARTITION, [input.name, input.runId, i, input.pass, b.lower, b.upper]);
    }
    return bounds.length;
  });
  return { partitions, rowsEstimated: table.estimatedRows };
}

const INTEGER_TYPES = ['smallint', 'integer', 'bigint'];

/**
 * Splits the key range into `n` contiguous partitions that cover every key exactly once: evenly
 * over min..max of the first key column when it is an integer, else at quantiles of a
 * `TABLESAMPLE` of keys. Fewer partitions come back when the table has too few distinct keys.
 */
export async function splitKeyRange(db: Pool | PoolClient, table: TableInfo, n: number): Promise<PartitionBounds[]> {
  if (n <= 1) return [{ lower: null, upper: null }];
  const cuts = INTEGER_TYPES.includes(table.key[0].type)
    ? await integerCuts(db, table, n)
    : await sampledCuts(db, table, n);
  return boundsFromCuts(cuts);
}

/** Partitions from ascending cut points: (-∞, c1], (c1, c2], ..., (c_last, +∞). */
export function boundsFromCuts(cuts: string[][]): PartitionBounds[] {
  const bounds: PartitionBounds[] = [];
  for (let i = 0; i <= cuts.length; i++) {
    bounds.push({ lower: i === 0 ? null : cuts[i - 1], upper: i === cuts.length ? null : cuts[i] });
  }
  return bounds;
}

async function integerCuts(db: Pool | PoolClient, table: TableInfo, n: number): Promise<string[][]> {
  const { rows } = await db.query(sql.buildFirstKeySpan(table).text);
  if (rows[0].min === null) return [];
  return evenCuts(BigInt(rows[0].min), BigInt(rows[0].max), n).map((c) => [c.toString()]);
}

/** `n - 1` distinct ascending cuts in [min, max) that split min..max into `n` near-equal spans. */
export function evenCuts(min: bigint, max: bigint, n: number): bigint[] {
  const span = max - min + 1n;
  const cuts: bigint[] = [];
  for (let i = 1n; i < BigInt(n); i++) {
    const cut = min + (span * i) / BigInt(n) - 1n;
    if (cut >= min && cut < max && (cuts.length === 0 || cut > cuts[cuts.length - 1])) cuts.push(cut);
  }
  return cuts;
}

const SAMPLE_TARGET_ROWS = 20_000;

async function sampledCuts(db: Pool | PoolClient, table: TableInfo, n: number): Promise<string[][]> {
  const percent = Math.min(100, (100 * SAMPLE_TARGET_ROWS) / Math.max(table.estimatedRows, 1));
  const { rows } = await db.query(sql.buildSampleKeys(table).text, [percent]);
  const keys: string[][] = rows.map((r) => r.key);
  const cuts: string[][] = [];
  for (let i = 1; i < n; i++) {
    const cut = keys[Math.floor((keys.length * i) / n)];
    const prev = cuts[cuts.length - 1];
    if (cut && (!prev || !sameKey(prev, cut))) cuts.push(cut);
  }
  return cuts;
}

/* ---------------------------------------------------------------- backfillChunk */

/** What a chunk runs with; built once per activity call. */
interface ChunkEnv {
  pool: Pool;
  input: BackfillChunkInput;
  migration: LoadedMigration;
  table: TableInfo;
  sizer: BatchSizer;
  rateLimit: RateLimit;
  gate: HealthGate;
  tuning: BackfillTuning;
  backoff: ThrottleBackoff;
  timeoutRetries: number;
  pauseMs: number;
  activity: Context;
  log: ProcessContext['log'];
  metrics?: FerryMetrics;
}

/**
 * The parts of a chunk's environment that the worker shares between chunks; `sizerFor` gives the
 * partition's sizer, made from its checkpoint's last batch size when the worker has none yet.
 */
type ChunkParts = Pick<ChunkEnv, 'table' | 'rateLimit' | 'gate'> & { sizerFor: (start?: number) => BatchSizer };

/** A chunk's environment before its checkpoint is read: all but the sizer. */
type ChunkSetup = Omit<ChunkEnv, 'sizer'> & Pick<ChunkParts, 'sizerFor'>;

function chunkEnv(deps: ActivityDeps, options: BackfillOptions, input: BackfillChunkInput, migration: LoadedMigration, parts: ChunkParts): ChunkSetup {
  const activity = Context.current();
  const log = deps.log ?? ((message: string, fields?: Record<string, unknown>) => activity.log.info(message, fields));
  const backfill = migration.definition.backfill;
  return {
    ...parts,
    pool: deps.pool,
    input,
    migration,
    tuning: backfillTuning(backfill),
    backoff: { ...DEFAULT_BACKOFF, ...options.health?.backoff },
    timeoutRetries: options.timeoutRetries ?? 5,
    pauseMs: parseDuration(backfill.pause, 'backfill.pause'),
    activity,
    log,
    metrics: deps.metrics,
  };
}

/** A partition's cursor as this chunk last saw (or wrote) it. */
interface Cursor {
  pass: number;
  lower: string[] | null;
  upper: string[] | null;
  last: string[] | null;
  /** The checkpoint's batch counter: any other writer moves it, so it tells a zombie apart. */
  batches: string;
  done: boolean;
  /** The size of the partition's last batch as the checkpoint recorded it, if any. */
  batchSize?: number;
}

/** The chunk's own counters, as heartbeats and the result report them. */
interface Tally {
  rowsScanned: number;
  rowsUpdated: number;
  rowsFailed: number;
  batches: number;
  batchMs: number[];
  throttledMs: number;
  throttleReason?: string;
  contendedMs: number;
  contendedBatches: number;
  /** Batches in a row that hit lock_timeout or statement_timeout. */
  timeoutsInARow: number;
}

async function runChunk(setup: ChunkSetup): Promise<ChunkResult> {
  const started = Date.now();
  const tally: Tally = { rowsScanned: 0, rowsUpdated: 0, rowsFailed: 0, batches: 0, batchMs: [], throttledMs: 0, contendedMs: 0, contendedBatches: 0, timeoutsInARow: 0 };
  await checkFailedRows(setup);
  const cursor = await startChunk(setup);
  const { sizerFor, ...rest } = setup;
  const env: ChunkEnv = { ...rest, sizer: sizerFor(cursor.batchSize ?? undefined) };
  const stopped = await batchLoop(env, cursor, tally, started);
  return chunkResult(env, tally, cursor.done, stopped, Date.now() - started);
}

/** Clears the partition's stop flag and reads its cursor. */
async function startChunk(env: ChunkSetup): Promise<Cursor> {
  const { name, runId, partition } = env.input;
  const { rows } = await env.pool.query(sql.START_CHUNK, [name, runId, partition]);
  if (rows.length === 0) {
    throw ApplicationFailure.nonRetryable(
      `backfill partition ${partition} of migration "${name}" (run "${runId}") has no checkpoint; run initBackfill first.`,
      'NOT_FOUND',
    );
  }
  const r = rows[0];
  const cursor: Cursor = { pass: r.pass, lower: r.lower_key, upper: r.upper_key, last: r.last_key, batches: r.batches, done: r.done };
  return r.batch_size > 0 ? { ...cursor, batchSize: r.batch_size } : cursor;
}

/**
 * Runs batches until the partition is done, time is up, a stop is requested or it is superseded;
 * before each batch it waits while the database is unhealthy, after each it paces and pauses.
 */
async function batchLoop(env: ChunkEnv, cursor: Cursor, tally: Tally, started: number): Promise<ChunkStop> {
  const signal = env.activity.cancellationSignal;
  while (!cursor.done) {
    if (signal.aborted) throw signal.reason;
    if (Date.now() - started >= env.input.maxMs) return 'time';
    const held = await throttle(env, tally, started);
    if (held !== undefined) return held;
    const t0 = Date.now();
    const outcome = await timedBatch(env, cursor, tally);
    heartbeat(env, tally);
    if (outcome.timedOut !== undefined) {
      batchTimedOut(env, tally, outcome.timedOut);
      continue; // the batch rolled back; run it again, smaller
    }
    tally.timeoutsInARow = 0;
    if (outcome.failed > 0) await checkFailedRows(env);
    if (signal.aborted) throw signal.reason;
    if (outcome.stop !== undefined) return outcome.stop;
    if (!cursor.done) await pause(env, started, paceDelayMs(outcome.scanned, Date.now() - t0, env.input.maxRowsPerSec));
  }
  return 'done';
}

/** Sleeps `backfill.pause` plus `paceMs` (cancellable: a cancellation rejects), but not past the chunk's time. */
async function pause(env: ChunkEnv, started: number, paceMs: number): Promise<void> {
  const ms = Math.min(env.pauseMs + paceMs, env.input.maxMs - (Date.now() - started));
  if (ms > 0) await env.activity.sleep(ms);
}

/**
 * Waits while the health gate says the database cannot take more (heartbeating, counting the
 * time); returns why the chunk must end instead ('time', 'stop-requested'), or undefined to go on.
 */
async function throttle(env: ChunkEnv, tally: Tally, started: number): Promise<ChunkStop | undefined> {
  const { name, runId, partition } = env.input;
  const outcome = await waitUntilHealthy(
    {
      gate: env.gate,
      sleep: (ms) => env.activity.sleep(ms),
      remainingMs: () => env.input.maxMs - (Date.now() - started),
      stopRequested: async () => (await env.pool.query(sql.READ_CHECKPOINT, [name, runId, partition])).rows[0]?.stop_requested === true,
      onWait: (ms, verdict) => throttled(env, tally, ms, verdict),
    },
    env.backoff,
  );
  return outcome === 'healthy' ? undefined : outcome;
}

/** Counts a slice of waiting for health: throttled time, reason, metrics, a heartbeat. */
function throttled(env: ChunkEnv, tally: Tally, ms: number, verdict: Unhealthy): void {
  if (tally.throttleReason !== verdict.reason) {
    env.log('backfill waits for the database', { migration: env.input.name, partition: env.input.partition, reason: verdict.reason });
  }
  tally.throttledMs += ms;
  tally.throttleReason = verdict.reason;
  env.metrics?.throttled(env.input.name, verdict.kind, ms / 1000);
  heartbeat(env, tally);
}

/**
 * Counts a batch that hit lock_timeout (55P03) or statement_timeout (57014) and was rolled back;
 * the sizer has halved the next one. Past `timeoutRetries` in a row, fails the chunk (retryable).
 */
function batchTimedOut(env: ChunkEnv, tally: Tally, code: string): void {
  tally.timeoutsInARow += 1;
  const { lockTimeoutMs, statementTimeoutMs } = env.tuning;
  const which = code === '55P03' ? `lock_timeout (${formatDuration(lockTimeoutMs)})` : `statement_timeout (${formatDuration(statementTimeoutMs)})`;
  const size = batchSize(env);
  env.log(`backfill batch hit ${which}; retrying with ${size} rows`, { migration: env.input.name, partition: env.input.partition });
  if (tally.timeoutsInARow <= env.timeoutRetries) return;
  throw ApplicationFailure.retryable(
    `backfill of migration "${env.input.name}" on table ${env.table.quoted}: ${tally.timeoutsInARow} batches in a row hit ${which}, ` +
      `down to ${size} rows a batch. Another transaction holds locks on its rows, or batches are too slow. Temporal retries the chunk; ` +
      'if it goes on, look for long transactions in pg_stat_activity (xact_start), or raise backfill.lockTimeout / backfill.statementTimeout.',
    'BATCH_TIMEOUT',
  );
}

/** The size of the next batch: the sizer's, capped to a second's rows under `maxRowsPerSec`. */
function batchSize(env: ChunkEnv): number {
  return pacedBatchSize(env.sizer.next(), env.input.maxRowsPerSec);
}

function chunkResult(env: ChunkEnv, tally: Tally, done: boolean, stopped: ChunkStop, elapsedMs: number): ChunkResult {
  const { rowsScanned, rowsUpdated, rowsFailed, batches, throttledMs, throttleReason, contendedMs, contendedBatches } = tally;
  const counters = { rowsScanned, rowsUpdated, rowsFailed, batches, elapsedMs, batchMsMedian: median(tally.batchMs), batchSize: batchSize(env) };
  const held = { throttledMs, ...(throttleReason === undefined ? {} : { throttleReason }), contendedMs, contendedBatches };
  return { ...counters, ...held, done, stopped };
}

/** The median of `values`, 0 when empty. */
export function median(values: number[]): number {
  if (values.length === 0) return 0;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

function heartbeat(env: ChunkEnv, tally: Tally): void {
  const { rowsScanned, rowsUpdated, rowsFailed, batches, throttledMs, throttleReason, contendedMs, contendedBatches } = tally;
  const { partition } = env.input;
  const counters = { partition, rowsScanned, rowsUpdated, rowsFailed, batches, batchSize: batchSize(env) };
  const details: ChunkHeartbeat = { ...counters, throttledMs, contendedMs, contendedBatches };
  env.activity.heartbeat(throttleReason === undefined ? details : { ...details, throttleReason });
}

/** How often to heartbeat while one batch runs: a third of the heartbeat timeout, 1..10 s. */
function heartbeatEveryMs(env: ChunkEnv): number {
  const timeout = env.activity.info.heartbeatTimeoutMs ?? 30_000;
  return Math.min(10_000, Math.max(1000, Math.floor(timeout / 3)));
}

/** SQLSTATEs of a batch that ran out of time: lock_not_available (lock_timeout) and query_canceled (statement_timeout). */
const TIMEOUT_CODES = ['55P03', '57014'];

/**
 * Runs one batch with heartbeats flowing meanwhile; records its duration for the sizer and median.
 * A batch that times out comes back as `timedOut` (rolled back, nothing applied).
 */
async function timedBatch(env: ChunkEnv, cursor: Cursor, tally: Tally): Promise<BatchOutcome> {
  const size = batchSize(env);
  const timer = setInterval(() => heartbeat(env, tally), heartbeatEveryMs(env));
  const t0 = Date.now();
  try {
    const outcome = await batchTransaction(env, cursor, size);
    if (outcome.ran) recordBatch(env, tally, outcome, Date.now() - t0, size);
    return outcome;
  } catch (err) {
    const code = sqlstate(err);
    const timedOut = code !== undefined && TIMEOUT_CODES.includes(code);
    env.sizer.observe(Date.now() - t0, 0, timedOut);
    const signal = env.activity.cancellationSignal;
    if (signal.aborted) throw signal.reason; // a batch that failed because of the cancellation
    if (timedOut) return { ...NOTHING, timedOut: code };
    throw err;
  } finally {
    clearInterval(timer);
  }
}

function recordBatch(env: ChunkEnv, tally: Tally, outcome: BatchOutcome, ms: number, size: number): void {
  env.sizer.observe(ms, outcome.scanned, false, outcome.blocked);
  if (outcome.blocked > 0) contended(env, tally, outcome.blocked, ms);
  env.metrics?.batch(env.input.name, { rows: outcome.scanned, failedRows: outcome.failed, seconds: ms / 1000, size });
  tally.batchMs.push(ms);
  tally.batches += 1;
  tally.rowsScanned += outcome.scanned;
  tally.rowsUpdated += outcome.updated;
  tally.rowsFailed += outcome.failed;
}

/**
 * Counts a batch that blocked `blocked` other sessions (they waited for its row locks until it
 * committed): contended time and batches, and the reason, which says how far the sizer shrank.
 */
function contended(env: ChunkEnv, tally: Tally, blocked: number, ms: number): void {
  const reason = `ferry's batch blocked ${blocked} ${blocked === 1 ? 'session' : 'sessions'}; batch shrunk to ${batchSize(env)} rows`;
  if (tally.contendedBatches === 0) env.log('backfill batch blocked other sessions; shrinking batches', { migration: env.input.name, partition: env.input.partition, blocked });
  tally.contendedMs += ms;
  tally.contendedBatches += 1;
  tally.throttleReason = reason;
}

/* ---------------------------------------------------------------- one batch, one transaction */

/** What one batch transaction did. `ran` is false when it applied nothing and returned `stop`. */
interface BatchOutcome {
  ran: boolean;
  scanned: number;
  updated: number;
  /** Rows newly recorded in ferry.failed_rows. */
  failed: number;
  stop?: ChunkStop;
  /** The SQLSTATE when the batch hit lock_timeout or statement_timeout and rolled back. */
  timedOut?: string;
  /** Sessions that were waiting for the batch's locks just before it committed. */
  blocked: number;
}

/** What applying a batch's change yields before the checkpoint moves. */
interface BatchWork {
  scanned: number;
  updated: number;
  failed: number;
  /** The last key of the batch's window; null when the range is exhausted. */
  lastKey: string[] | null;
}

const NOTHING: BatchOutcome = { ran: false, scanned: 0, updated: 0, failed: 0, blocked: 0 };

/**
 * BEGIN; take the partition's lock and check the checkpoint is where this chunk left it; apply the
 * batch; move the checkpoint; COMMIT. Anything unexpected rolls the whole batch back.
 */
async function batchTransaction(env: ChunkEnv, cursor: Cursor, size: number): Promise<BatchOutcome> {
  const client = await env.pool.connect();
  let broken = false;
  try {
    await client.query('BEGIN');
    const stop = (await checkCheckpoint(env, client, cursor)) ?? (await batchBody(env, client, cursor, size));
    if (typeof stop === 'string') {
      await client.query('ROLLBACK');
      return { ...NOTHING, stop };
    }
    await client.query('COMMIT');
    advanceCursor(cursor, stop.work, size);
    const why = cursor.done ? 'done' : stop.stopRequested ? 'stop-requested' : undefined;
    return { ran: true, ...stop.work, blocked: stop.blocked, stop: why };
  } catch (err) {
    broken = await client.query('ROLLBACK').then(
      () => false,
      () => true,
    );
    throw definitionFailure(env, err) ?? err;
  } finally {
    client.release(broken);
  }
}

/**
 * `lock_timeout` and `statement_timeout` of the rest of the batch as `set_config` values. They are
 * set with the checkpoint's read, after the partition's lock, which waits for a zombie attempt's
 * batch by design.
 */
function batchTimeouts(env: ChunkEnv): string[] {
  const { lockTimeoutMs, statementTimeoutMs } = env.tuning;
  return [`${Math.ceil(lockTimeoutMs)}ms`, `${Math.ceil(statementTimeoutMs)}ms`];
}

/** Applies the batch under its timeouts and moves the checkpoint; 'superseded' when the checkpoint moved meanwhile. */
async function batchBody(env: ChunkEnv, client: PoolClient, cursor: Cursor, size: number) {
  const work = await applyBatch(env, client, cursor, size);
  const advanced = await advanceCheckpoint(env, client, cursor, work, size);
  return advanced === undefined ? supersededBy(env) : { work, ...advanced };
}

function supersededBy(env: ChunkEnv): 'superseded' {
  const { name, partition } = env.input;
  env.log('backfill chunk superseded: another attempt advanced the checkpoint', { migration: name, partition });
  return 'superseded';
}

/**
 * Takes the partition's lock, then reads its checkpoint and sets the batch's timeouts (one
 * statement, whose snapshot follows the lock); returns why the batch must not run (another attempt
 * moved it, a stop was requested, it is done), or undefined to go on.
 */
async function checkCheckpoint(env: ChunkEnv, client: PoolClient, cursor: Cursor): Promise<ChunkStop | undefined> {
  const key = [env.input.name, env.input.runId, env.input.partition];
  await client.query(sql.LOCK_PARTITION, key);
  const row = (await client.query(sql.READ_CHECKPOINT_SET_TIMEOUTS, [...key, ...batchTimeouts(env)])).rows[0];
  if (!row || row.pass !== cursor.pass || row.batches !== cursor.batches || !sameKey(row.last_key, cursor.last)) {
    return supersededBy(env);
  }
  if (row.stop_requested) return 'stop-requested';
  if (row.done) {
    cursor.done = true;
    return 'done';
  }
  return undefined;
}

/**
 * Writes the batch's effect on the checkpoint (guarded by pass and batch count); returns whether a
 * stop was requested meanwhile and how many sessions wait for the batch's locks, or undefined when
 * the checkpoint moved under the batch.
 */
async function advanceCheckpoint(
  env: ChunkEnv,
  client: PoolClient,
  cursor: Cursor,
  work: BatchWork,
  size: number,
): Promise<{ stopRequested: boolean; blocked: number } | undefined> {
  const { name, runId, partition } = env.input;
  const counters = [work.scanned, work.updated, work.failed, size, work.scanned < size];
  const guard = [cursor.pass, cursor.batches];
  const { rows } = await client.query(sql.ADVANCE_CHECKPOINT, [name, runId, partition, work.lastKey, ...counters, ...guard]);
  return rows[0] === undefined ? undefined : { stopRequested: rows[0].stop_requested, blocked: rows[0].blocked };
}

/** The cursor after a committed batch. */
function advanceCursor(cursor: Cursor, work: BatchWork, size: number): void {
  cursor.last = work.lastKey ?? cursor.last;
  cursor.batches = (BigInt(cursor.batches) + 1n).toString();
  cursor.done = work.scanned < size;
}

/** The bounds of the next window: after the cursor (or the partition's lower bound), up to its upper bound. */
function nextRange(cursor: Cursor): { shape: sql.RangeShape; values: string[] } {
  const lower = cursor.last ?? cursor.lower ?? [];
  const upper = cursor.upper ?? [];
  return { shape: { lower: lower.length, upper: upper.length }, values: [...lower, ...upper] };
}

/** The range from the cursor up to and including `lastKey` (a whole key). */
function rangeUpTo(cursor: Cursor, lastKey: string[]): { shape: sql.RangeShape; values: string[] } {
  const lower = cursor.last ?? cursor.lower ?? [];
  return { shape: { lower: lower.length, upper: lastKey.length }, values: [...lower, ...lastKey] };
}

function applyBatch(env: ChunkEnv, client: PoolClient, cursor: Cursor, size: number): Promise<BatchWork> {
  return env.migration.definition.backfill.process
    ? processBatch(env, client, cursor, size)
    : setBatch(env, client, cursor, size);
}

/* ---------------------------------------------------------------- set mode */

/**
 * Rows per statement of a set-mode batch. A batch (one transaction, one checkpoint) of more rows
 * runs as several statements in a row: PostgreSQL's cost per row of the batch statement rises
 * by about 8% past ~10,000 rows, while a transaction of several smaller statements costs what
 * small batches do (`npx tsx scripts/bench/statement-size.ts`).
 */
export const SET_STATEMENT_ROWS = 5000;

/**
 * The batch in statements of at most `SET_STATEMENT_ROWS` rows, under one savepoint; on a data
 * error, the whole batch again row set by row set to isolate the bad rows.
 */
async function setBatch(env: ChunkEnv, client: PoolClient, cursor: Cursor, size: number): Promise<BatchWork> {
  const attempt = await underSavepoint(env, client, 'set', () => setStatements(env, client, cursor, size));
  return attempt.ok ? attempt.value : isolateSetBatch(env, client, cursor, size);
}

/** Runs the batch's statements from the cursor until `size` rows are scanned or the range ends. */
async function setStatements(env: ChunkEnv, client: PoolClient, cursor: Cursor, size: number): Promise<BatchWork> {
  const work: BatchWork = { scanned: 0, updated: 0, failed: 0, lastKey: null };
  while (work.scanned < size) {
    const step = Math.min(SET_STATEMENT_ROWS, size - work.scanned);
    const range = nextRange(work.lastKey === null ? cursor : { ...cursor, last: work.lastKey });
    const stmt = sql.buildSetBatch(env.table, env.migration.definition.backfill, range.shape);
    const r = (await client.query(stmt.text, [...range.values, step])).rows[0];
    work.scanned += r.scanned;
    work.updated += r.updated;
    work.lastKey = r.last_key ?? work.lastKey;
    if (r.scanned < step) break;
  }
  return work;
}

async function isolateSetBatch(env: ChunkEnv, client: PoolClient, cursor: Cursor, size: number): Promise<BatchWork> {
  const window = await readWindow(env, client, cursor, size);
  if (window.lastKey === null) return { ...window, updated: 0, failed: 0 };
  const range = rangeUpTo(cursor, window.lastKey);
  const select = sql.buildSelectKeys(env.table, env.migration.definition.backfill, range.shape);
  const keys: string[][] = (await client.query(select.text, range.values)).rows.map((r) => r.key);
  const apply = sql.buildApplyKeys(env.table, env.migration.definition.backfill);
  const applyKeys = async (part: string[][]) =>
    (await client.query(apply.text, env.table.key.map((_c, i) => part.map((k) => k[i])))).rows[0].updated as number;
  const result = await bisect(env, client, 'set', keys, (k) => k, applyKeys);
  return { ...window, ...result };
}

/** The next window of keys, without changing anything. */
async function readWindow(env: ChunkEnv, client: PoolClient, cursor: Cursor, size: number) {
  const range = nextRange(cursor);
  const stmt = sql.buildWindow(env.table, range.shape);
  const r = (await client.query(stmt.text, [...range.values, size])).rows[0];
  return { scanned: r.scanned as number, lastKey: r.last_key as string[] | null };
}

/* ---------------------------------------------------------------- process mode */

/** The window's rows that match `where`, handed to `process` in the batch's transaction. */
async function processBatch(env: ChunkEnv, client: PoolClient, cursor: Cursor, size: number): Promise<BatchWork> {
  const window = await readWindow(env, client, cursor, size);
  if (window.lastKey === null) return { ...window, updated: 0, failed: 0 };
  const range = rangeUpTo(cursor, window.lastKey);
  const select = sql.buildSelectRows(env.table, env.migration.definition.backfill, range.shape);
  const rows = (await client.query(select.text, range.values)).rows.map(splitRowKey);
  const ctx = processContext(env, client);
  const process = env.migration.definition.backfill.process!;
  const run = async (part: KeyedRow[]) => {
    await process(
      part.map((r) => r.row),
      ctx,
    );
    return part.length;
  };
  if (rows.length === 0) return { ...window, updated: 0, failed: 0 };
  const attempt = await underSavepoint(env, client, 'process', () => run(rows));
  if (attempt.ok) return { ...window, updated: attempt.value, failed: 0 };
  const result = await bisect(env, client, 'process', rows, (r) => r.key, run);
  return { ...window, ...result };
}

interface KeyedRow {
  key: string[];
  row: Row;
}

function splitRowKey(raw: Row): KeyedRow {
  const { [sql.ROW_KEY_COLUMN]: key, ...row } = raw;
  return { key: key as string[], row };
}

function processContext(env: ChunkEnv, client: PoolClient): ProcessContext {
  const signal = env.activity.cancellationSignal;
  return { client, log: env.log, rateLimit: () => env.rateLimit(signal), signal };
}

/* ---------------------------------------------------------------- failed rows */

type Mode = 'set' | 'process';

type Attempt<T> = { ok: true; value: T } | { ok: false; error: unknown };

/**
 * Runs `fn` under a savepoint. A row-level data error rolls back to the savepoint and comes back as
 * `{ ok: false }`; any other error propagates (and fails the batch's transaction).
 */
async function underSavepoint<T>(env: ChunkEnv, client: PoolClient, mode: Mode, fn: () => Promise<T>): Promise<Attempt<T>> {
  await client.query('SAVEPOINT ferry_rows');
  try {
    const value = await fn();
    await client.query('RELEASE SAVEPOINT ferry_rows');
    return { ok: true, value };
  } catch (error) {
    if (!isRowError(error, mode, env.activity.cancellationSignal)) throw error;
    await client.query('ROLLBACK TO SAVEPOINT ferry_rows');
    await client.query('RELEASE SAVEPOINT ferry_rows');
    return { ok: false, error };
  }
}

/**
 * Applies `items` by halves, recursing down to single items; each single failing item is recorded
 * in ferry.failed_rows and skipped. Returns rows applied and rows newly recorded as failed.
 */
async function bisect<T>(
  env: ChunkEnv,
  client: PoolClient,
  mode: Mode,
  items: T[],
  keyOf: (item: T) => string[],
  apply: (items: T[]) => Promise<number>,
): Promise<{ updated: number; failed: number }> {
  if (items.length === 0) return { updated: 0, failed: 0 };
  if (items.length === 1) {
    const attempt = await underSavepoint(env, client, mode, () => apply(items));
    if (attempt.ok) return { updated: attempt.value, failed: 0 };
    return { updated: 0, failed: await recordFailedRow(env, client, keyOf(items[0]), attempt.error) };
  }
  const total = { updated: 0, failed: 0 };
  const mid = Math.ceil(items.length / 2);
  for (const half of [items.slice(0, mid), items.slice(mid)]) {
    const attempt = half.length > 1 ? await underSavepoint(env, client, mode, () => apply(half)) : undefined;
    const part = attempt?.ok ? { updated: attempt.value, failed: 0 } : await bisect(env, client, mode, half, keyOf, apply);
    total.updated += part.updated;
    total.failed += part.failed;
  }
  return total;
}

/** Records one failed row (in the batch's transaction); returns 1 when it is newly recorded. */
async function recordFailedRow(env: ChunkEnv, client: PoolClient, key: string[], error: unknown): Promise<number> {
  const { name, runId } = env.input;
  const { rows } = await client.query(sql.RECORD_FAILED_ROW, [name, runId, key, sqlstate(error) ?? null, errorText(error)]);
  return rows[0].inserted ? 1 : 0;
}

function errorText(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const detail = (error as { detail?: unknown }).detail;
  return typeof detail === 'string' && detail !== '' ? `${error.message} (${detail})` : error.message;
}

/** Fails the chunk for good once the run's failed rows exceed `backfill.maxFailedRows`. */
async function checkFailedRows(env: Pick<ChunkEnv, 'input' | 'migration' | 'pool'>): Promise<void> {
  const { name, runId } = env.input;
  const max = env.migration.definition.backfill.maxFailedRows;
  const { rows } = await env.pool.query(sql.COUNT_FAILED_ROWS, [name, runId]);
  const count: number = rows[0].n;
  if (count <= max) return;
  const quoted = (s: string) => `'${s.replace(/'/g, "''")}'`;
  throw ApplicationFailure.nonRetryable(
    `migration "${name}" has ${count} failed rows, more than backfill.maxFailedRows (${max}); ` +
      `see them with SELECT * FROM ferry.failed_rows WHERE migration = ${quoted(name)} AND run_id = ${quoted(runId)}, ` +
      'fix the data or the migration, then abort and start it again (or raise maxFailedRows).',
    'TOO_MANY_FAILED_ROWS',
  );
}

/** The SQLSTATE of a PostgreSQL error, else undefined. */
export function sqlstate(error: unknown): string | undefined {
  const e = error as { code?: unknown; severity?: unknown } | null;
  return e && typeof e.code === 'string' && typeof e.severity === 'string' ? e.code : undefined;
}

/**
 * Whether an error belongs to the rows of the batch (isolate them) rather than to the connection,
 * locks or the definition (propagate): SQLSTATE classes 22 (data exception) and 23 (integrity
 * constraint), and anything `process` throws that is not a PostgreSQL error. Nothing is isolated
 * once the activity is cancelled.
 */
export function isRowError(error: unknown, mode: Mode, signal?: AbortSignal): boolean {
  if (signal?.aborted) return false;
  const code = sqlstate(error);
  if (code !== undefined) return code.startsWith('22') || code.startsWith('23');
  return mode === 'process';
}

/**
 * A non-retryable failure for errors in the author's SQL (SQLSTATE class 42, syntax or undefined
 * object; not 42501 insufficient privilege, which a GRANT fixes): retrying cannot help.
 */
function definitionFailure(env: ChunkEnv, error: unknown): ApplicationFailure | undefined {
  const code = sqlstate(error);
  if (code === undefined || !code.startsWith('42') || code === '42501') return undefined;
  return ApplicationFailure.nonRetryable(
    `backfill of migration "${env.input.name}" on table ${env.table.quoted} failed: ${(error as Error).message} ` +
      `(SQLSTATE ${code}); fix backfill.where/set, then abort the migration and start it again.`,
    'INVALID_DEFINITION',
  );
}

/** Null-safe equality of two keys as text. */
export function sameKey(a: string[] | null, b: string[] | null): boolean {
  if (a === null || b === null) return a === b;
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
