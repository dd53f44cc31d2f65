/**
 * (c): ferry end to end, the way an operator runs it: a `ferry worker` child process on its own
 * task queue, `ferry start` and `ferry deployed` from the CLI, then the workflow runs expand, the
 * probe, the backfill and verify up to awaiting-approval, where the bench reads the history and
 * aborts. The backfill is timed from Temporal's history: from the first `backfillChunk`
 * ActivityTaskScheduled to the last ActivityTaskCompleted.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { connectClient, type FerryClient } from '../../src/client/connect';
import { waitForPhase } from '../../src/client/list';
import { loadConfig } from '../../src/config';
import { batchMedianOf, readHistory, type HistorySummary } from './history';
import { withClient } from './databases';
import { log, sleep } from './log';
import { startWorker, untilIdle, type RssSample, type WorkerProcess } from './worker';

const ROOT = path.resolve(__dirname, '..', '..');
const EXAMPLE = path.join(ROOT, 'migrations', 'examples', 'posts-member-uuid');

/** Where and how the bench runs ferry. */
export interface FerrySetup {
  temporalAddress: string;
  namespace: string;
  taskQueue: string;
  /** A directory of migrations made for this run (see `writeBenchMigration`). */
  migrationsDir: string;
  outDir: string;
}

/** What the bench measured of one ferry run. */
export interface FerryRun {
  workflowId: string;
  /** The backfill window, epoch ms from the history. */
  startMs: number;
  endMs: number;
  seconds: number;
  rowsScanned: number;
  rowsPerSec: number;
  /** `ferry start` until the bench saw awaiting-approval: expand, probe, backfill, verify, cool-off. */
  endToEndSeconds: number;
  /** The last checkpoint's `updated_at` (the last batch's commit), epoch ms. */
  lastCheckpointMs: number;
  history: HistorySummary;
  batchMsMedian: number;
  rss: { peakMb: number; backfillStartMb: number; backfillPeakMb: number; backfillEndMb: number };
  /** CPU time (user + system) the worker process used during the backfill window, sampled every 500 ms. */
  workerCpuSeconds: number;
  /** Rows scanned so far, read from ferry.backfill_checkpoints once a second. */
  progress: { atMs: number; total: number }[];
}

/**
 * Writes `<dir>/<name>.ts`, which re-exports the posts-member-uuid example under a name of the
 * bench's own, so that every run starts a new workflow and never meets another's.
 */
export function writeBenchMigration(dir: string, name: string): void {
  fs.mkdirSync(dir, { recursive: true });
  const target = path.relative(dir, EXAMPLE).split(path.sep).join('/');
  fs.writeFileSync(path.join(dir, `${name}.ts`), `export { default } from '${target}';\n`);
}

/**
 * The application's representative read for a latency budget: a point read of one of `rows` posts,
 * as the load's reads. The random id is an uncorrelated sub-select (one InitPlan, then an index
 * scan): `id = 1 + (random() * n)::int` would compare each row with a new random number — a
 * sequential scan of the whole table that returns no row or several.
 */
export function budgetQuery(rows: number): string {
  return `SELECT id, member_id, member_uuid, body FROM posts WHERE id = (SELECT 1 + (random() * ${Math.max(0, Math.floor(rows) - 1)})::int)`;
}

/**
 * Writes `<dir>/<name>.ts`: the posts-member-uuid example with a latency budget of `ratio` × each
 * probe's p99 measured before the backfill (bench method (d)): the read `budgetQuery(rows)`, and a
 * commit (`commit: true`: an upsert of ferry's own row under synchronous_commit = on, which waits
 * for the WAL flush as the load's UPDATEs do).
 */
export function writeBudgetMigration(dir: string, name: string, ratio: number, rows: number): void {
  fs.mkdirSync(dir, { recursive: true });
  const rel = (file: string) => path.relative(dir, file).split(path.sep).join('/').replace(/\.ts$/, '');
  const define = rel(path.join(__dirname, '..', '..', 'src', 'definition', 'define.ts'));
  const hash = rel(path.join(__dirname, '..', '..', 'src', 'definition', 'spec-hash.ts'));
  const latency = JSON.stringify({ query: budgetQuery(rows), commit: true, ratio });
  fs.writeFileSync(
    path.join(dir, `${name}.ts`),
    [
      `import { defineMigration, type MigrationDefinitionInput } from '${define}';`,
      `import { authorInput } from '${hash}';`,
      `import example from '${rel(EXAMPLE)}';`,
      'const input = authorInput(example) as MigrationDefinitionInput;',
      `export default defineMigration({ ...input, backfill: { ...input.backfill, health: { ...input.backfill.health, latency: ${latency} } } });`,
      '',
    ].join('\n'),
  );
}

/** The environment of the worker and the CLI: ferry's defaults, except the waits that only delay. */
function ferryEnv(setup: FerrySetup, url: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: url,
    TEMPORAL_ADDRESS: setup.temporalAddress,
    TEMPORAL_NAMESPACE: setup.namespace,
    FERRY_TASK_QUEUE: setup.taskQueue,
    FERRY_MIGRATIONS: setup.migrationsDir,
    FERRY_PROBE_WINDOW: '0s',
    FERRY_USER: 'bench',
  };
  for (const name of ['FERRY_CHUNK', 'FERRY_HEARTBEAT_TIMEOUT', 'FERRY_HISTORY_LIMIT']) delete env[name];
  return env;
}

/** Runs `ferry ...args`, its output on stderr; rejects on a non-zero exit. */
function ferryCli(env: NodeJS.ProcessEnv, ...args: string[]): Promise<void> {
  log(`$ ferry ${args.join(' ')}`);
  const proc = spawn(process.execPath, [path.join(ROOT, 'bin', 'ferry.js'), ...args], { cwd: ROOT, env, stdio: ['ignore', 2, 2] });
  return new Promise((resolve, reject) =>
    proc.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`ferry ${args[0]} exited ${code}`)))),
  );
}

/** Polls the run's total rows scanned once a second until stopped. */
function pollCheckpoints(url: string, name: string) {
  const samples: { atMs: number; total: number }[] = [];
  let running = true;
  const loop = withClient(url, async (db) => {
    while (running) {
      const r = await db
        .query(`SELECT COALESCE(sum(rows_scanned), 0)::float8 AS total FROM ferry.backfill_checkpoints WHERE migration = $1::text`, [name])
        .catch(() => undefined); // the table appears with the worker
      if (r) samples.push({ atMs: Date.now(), total: r.rows[0].total });
      await sleep(1000);
    }
  });
  return { samples, stop: async () => ((running = false), await loop) };
}

/** Totals from the checkpoint table once the backfill is over. */
async function checkpointTotals(url: string, name: string): Promise<{ rows: number; lastMs: number }> {
  return withClient(url, async (db) => {
    const { rows } = await db.query(
      `SELECT COALESCE(sum(rows_scanned), 0)::float8 AS rows, (extract(epoch FROM max(updated_at)) * 1000)::float8 AS last_ms
       FROM ferry.backfill_checkpoints WHERE migration = $1::text`,
      [name],
    );
    return { rows: rows[0].rows, lastMs: rows[0].last_ms };
  });
}

/** Waits for awaiting-approval, failing if the worker dies or it takes longer than `maxMs`. */
async function untilAwaitingApproval(fc: FerryClient, name: string, worker: WorkerProcess, maxMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`migration "${name}" did not reach awaiting-approval within ${maxMs / 1000} s`)), maxMs);
  });
  const died = worker.exited.then((code) => Promise.reject(new Error(`the ferry worker exited (${code}) during the run`)));
  try {
    await Promise.race([waitForPhase(fc, name, 'awaiting-approval', 1000), timeout, died]);
  } finally {
    clearTimeout(timer);
  }
}

/** The worker's CPU time between the samples nearest before `startMs` and after `endMs`. */
function cpuDuring(samples: RssSample[], startMs: number, endMs: number): number {
  const before = samples.filter((s) => s.atMs <= startMs).at(-1) ?? samples[0];
  const after = samples.find((s) => s.atMs >= endMs) ?? samples.at(-1);
  return Math.round(((after?.cpuSeconds ?? 0) - (before?.cpuSeconds ?? 0)) * 100) / 100;
}

function rssFigures(samples: RssSample[], startMs: number, endMs: number): FerryRun['rss'] {
  const during = samples.filter((s) => s.atMs >= startMs && s.atMs <= endMs);
  const before = samples.filter((s) => s.atMs <= startMs).at(-1) ?? during[0];
  const mb = (v: number | undefined) => Math.round((v ?? 0) * 10) / 10;
  return {
    peakMb: mb(samples.at(-1)?.hwmMb),
    backfillStartMb: mb(before?.rssMb),
    backfillPeakMb: mb(during.reduce((m, s) => Math.max(m, s.rssMb), before?.rssMb ?? 0)),
    backfillEndMb: mb(during.at(-1)?.rssMb),
  };
}

/** Deletes every run of the workflow (the bench leaves no history behind unless told to). */
export async function deleteWorkflow(fc: FerryClient, workflowId: string, runIds: string[]): Promise<void> {
  for (const runId of runIds) {
    await fc.client.connection.workflowService
      .deleteWorkflowExecution({ namespace: fc.config.namespace, workflowExecution: { workflowId, runId } })
      .catch(() => undefined);
  }
}

/**
 * Runs migration `name` on the database at `url` up to awaiting-approval, reads its history,
 * then aborts it (no contract). `beforeStart` runs once the worker is up, before `ferry start`.
 * The bench deletes the workflow when it cleans up.
 */
export async function runFerry(
  setup: FerrySetup,
  url: string,
  name: string,
  rows: number,
  beforeStart?: () => Promise<void>,
): Promise<FerryRun> {
  const env = ferryEnv(setup, url);
  const worker = await startWorker(env, path.join(setup.outDir, `${name}-worker.log`));
  await untilIdle(worker);
  await beforeStart?.(); // e.g. a window of application load without a backfill, the worker idle
  const fc = await connectClient(
    loadConfig({ TEMPORAL_ADDRESS: setup.temporalAddress, TEMPORAL_NAMESPACE: setup.namespace, FERRY_TASK_QUEUE: setup.taskQueue }),
  );
  const poll = pollCheckpoints(url, name);
  const workflowId = `migration/${name}`;
  try {
    const t0 = Date.now();
    await ferryCli(env, 'start', name, '--cool-off', '1s', '--wait-for', 'expanded');
    await ferryCli(env, 'deployed', name, '--reason', 'bench: no deploy to wait for');
    await untilAwaitingApproval(fc, name, worker, 600_000 + rows * 2); // the end time comes from the history, not this poll
    const endToEndSeconds = (Date.now() - t0) / 1000;
    const history = await readHistory(fc.client, workflowId);
    await ferryCli(env, 'abort', name, '--reason', 'bench: measured; no contract');
    return await measure(url, name, workflowId, history, worker.rss, poll.samples, endToEndSeconds);
  } finally {
    await poll.stop();
    await worker.stop();
    await fc.close();
  }
}

async function measure(
  url: string,
  name: string,
  workflowId: string,
  history: HistorySummary,
  rss: RssSample[],
  progress: { atMs: number; total: number }[],
  endToEndSeconds: number,
): Promise<FerryRun> {
  if (history.chunks.length === 0) throw new Error(`migration "${name}" reached awaiting-approval without a backfillChunk in its history`);
  const startMs = history.chunks[0].scheduledMs;
  const endMs = history.chunks.at(-1)!.completedMs;
  const totals = await checkpointTotals(url, name);
  const seconds = (endMs - startMs) / 1000;
  return {
    workflowId,
    startMs,
    endMs,
    seconds,
    rowsScanned: totals.rows,
    rowsPerSec: totals.rows / seconds,
    endToEndSeconds,
    lastCheckpointMs: totals.lastMs,
    history,
    batchMsMedian: batchMedianOf(history.chunks),
    rss: rssFigures(rss, startMs, endMs),
    workerCpuSeconds: cpuDuring(rss, startMs, endMs),
    progress: [...progress],
  };
}
