/**
 * `npx tsx scripts/bench/engine-sweep.ts [--rows N] [--set lock|sync|gentle|budget|pacing|shape|small|floor|stage|defaults|canary|path] [--rounds N] [--control] [--no-load] [--baseline-seconds N]`:
 * the engine run in-process (scripts/bench/engine-run.ts) under the application load, once per
 * setting, each between two baseline windows (scripts/bench/interleaved.ts), and the hand loop
 * likewise. `--set lock` compares `backfill.maxLockMs` and `synchronous_commit`, `sync` and
 * `gentle` the defaults, `budget` sweeps latency budgets (the frontier), `pacing` the hand loop at
 * fixed duty cycles, `shape` what the application waits for (CPU or WAL), `small` the engine in
 * short synchronous transactions, `floor` the budget's shortest transactions, `path` the engine
 * in-process against ferry through Temporal. `--rounds N` repeats every arm N times in rotated
 * order and reports medians; `--control` adds an arm without any backfill (A/A: the noise floor of
 * a ratio); `--no-load` runs the arms without the application load and compares their rows/s to
 * the first's. One JSON object on stdout, a table on stderr.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startStack } from '../../devstack/stack';
import { createTemplate, dropDatabases, freshCopy } from './databases';
import type { EngineVariant } from './engine-run';
import { runEngine } from './engine-run';
import { budgetQuery, runFerry, writeBenchMigration, type FerrySetup } from './ferry-run';
import { interleaved, type InterleaveSettings } from './interleaved';
import { log, sleep } from './log';
import { handLoop, pacedHandLoop } from './methods';
import { median, rotation, round } from './stats';

const ADMIN_URL = process.env.FERRY_BENCH_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** The default (`synchronous_commit` off) and the same with it on, as the sweeps compare them. */
const SYNC_OFF: EngineVariant = { label: 'maxLockMs 25, synchronous_commit off', backfill: { maxLockMs: 25 } };
const SYNC_ON: EngineVariant = { label: 'maxLockMs 25, synchronous_commit on', backfill: { maxLockMs: 25, synchronousCommit: true } };

/** The settings compared by `--set lock`. */
const LOCK_VARIANTS: EngineVariant[] = [
  { label: 'one transaction a batch', backfill: { maxLockMs: 60_000 } },
  { label: 'maxLockMs 50', backfill: { maxLockMs: 50 } },
  { label: 'maxLockMs 40', backfill: { maxLockMs: 40 } },
  { label: 'maxLockMs 25', backfill: { maxLockMs: 25 } },
  { label: 'maxLockMs 10', backfill: { maxLockMs: 10 } },
  SYNC_ON,
];

/** The settings compared by `--set sync`: `synchronous_commit` of the batch transactions, each twice (A B B A). */
const SYNC_VARIANTS: EngineVariant[] = [SYNC_OFF, SYNC_ON, SYNC_ON, SYNC_OFF];

/** `--set gentle`: what ferry's defaults could be, under the load: today's, `synchronous_commit` on, and on with longer transactions. */
const GENTLE_VARIANTS: EngineVariant[] = [
  SYNC_OFF,
  SYNC_ON,
  { label: 'maxLockMs 40, synchronous_commit on', backfill: { maxLockMs: 40, synchronousCommit: true } },
];

/** The engine in short synchronous transactions of `maxLockMs`, no budget (the shape, small, stage and canary sets). */
function shortSynchronous(maxLockMs: number): EngineVariant {
  return { label: `engine, maxLockMs ${maxLockMs}, sync on`, backfill: { maxLockMs, synchronousCommit: true } };
}

/**
 * `--set pacing`: the hand loop at a fixed duty cycle (a rest after each batch), with large and
 * small batches: whether resting between batches spares the application, and how that depends
 * on how long each statement runs once it starts.
 */
const PACING_ARMS: Arm[] = [
  { size: 2000, duty: 1 },
  { size: 2000, duty: 0.33 },
  { size: 500, duty: 0.5 },
  { size: 200, duty: 0.33 },
  { size: 100, duty: 0.2 },
].map(({ size, duty }) => ({
  label: `hand loop ${size} rows${duty < 1 ? `, duty ${duty}` : ''}`,
  run: (url: string) => pacedHandLoop(url, { batchSize: size, duty }),
}));

/**
 * `--set shape`: what the application waits for while a backfill runs — the CPU or the WAL. The
 * hand loop continuous and paced, with `synchronous_commit` on and off, in small statements, and
 * paced on another database of the same server (sharing only the CPUs, the WAL and the disk with
 * the application's table, not its pages or locks); small statements that also advance a
 * checkpoint, as a batch transaction of ferry's in one round trip would; then the engine with its
 * defaults and with short synchronous transactions. The sweep reports the application's reads and
 * updates apart (only the updates commit, so only they wait for a WAL flush).
 */
function shapeArms(s: InterleaveSettings): Arm[] {
  const paced = (batchSize: number, duty: number, synchronousCommit: 'on' | 'off' = 'on'): Arm => ({
    label: `hand loop ${batchSize} rows, duty ${duty}, sync ${synchronousCommit}`,
    run: (url: string) => pacedHandLoop(url, { batchSize, duty, synchronousCommit }),
  });
  const elsewhere: Arm = {
    label: 'hand loop 2000 rows, duty 0.33, other db',
    run: (url: string) => onAnotherCopy(s, url, (other) => pacedHandLoop(other, { batchSize: 2000, duty: 0.33 })),
  };
  const small = shortSynchronous(3);
  const checkpointed = (batchSize: number): Arm => ({
    label: `hand loop ${batchSize} rows + checkpoint, sync on`,
    run: (url: string) => pacedHandLoop(url, { batchSize, duty: 1, checkpointed: true }),
  });
  const hand = [paced(2000, 1), paced(2000, 0.33), paced(2000, 0.33, 'off'), elsewhere, paced(200, 1), paced(50, 1)];
  return [...hand, checkpointed(200), checkpointed(50), ...variantArms([{ label: 'engine, defaults' }, small])];
}

/**
 * `--set small`: the engine in short synchronous transactions, each in one round trip
 * (src/engine/set-transaction.ts), against the hand loop ((b)) and the hand loop's 50-row
 * statements with a checkpoint: how small the latency budget's transactions may go.
 */
const SMALL_ARMS: Arm[] = [
  { label: 'hand loop', run: handLoop },
  {
    label: 'hand loop 50 rows + checkpoint, sync on',
    run: (url: string) => pacedHandLoop(url, { batchSize: 50, duty: 1, checkpointed: true }),
  },
  ...variantArms([1, 1.5, 2, 3].map(shortSynchronous)),
];

/**
 * `--set floor`: the latency budget of 1.5 × (read and commit probes) with its first lever's floor
 * at 1 ms and at 2 ms (`minLockMs`; 2 ms, `MIN_LOCK_MS`, is the default since this sweep), against
 * the hand loop: whether stopping the transactions at 2 ms and resting below keeps the budget as well.
 */
function floorArms(rows: number): Arm[] {
  const [budget] = budgetVariants([1.5], rows).slice(1);
  const floor = (minLockMs: number): EngineVariant => ({
    ...budget,
    label: `budget 1.5x, floor ${minLockMs} ms`,
    engine: { latency: { lockMs: { maxLockMs: 25, minLockMs } } },
  });
  return engineArms([floor(1), floor(2)]);
}

/**
 * `--set stage`: the latency budget of 1.5 × with and without its second stage (rests after the
 * batch once the transactions are at their floor; `min: 1` keeps the duty at 1, so the loop only
 * sizes transactions), and the engine held at 2 ms transactions without a budget, against the hand
 * loop: whether resting below the floor spares the application or, as the pacing sweep found of
 * the hand loop, hurts it.
 */
function stageArms(rows: number): Arm[] {
  const [budget] = budgetVariants([1.5], rows).slice(1);
  return engineArms([
    { ...budget, label: 'budget 1.5x (floor 2 ms, then rests)' },
    { ...budget, label: 'budget 1.5x, no rests', engine: { latency: { min: 1 } } },
    shortSynchronous(2),
  ]);
}

/**
 * `--set defaults`: candidate defaults for (c) since each transaction is one round trip: today's
 * (`maxLockMs` 25, `synchronous_commit` off), 25 with it on, and 15 and 10 with it on, against the
 * hand loop (whose 2,000-row statements of ~13 ms each commit synchronously). Run it with and
 * without `--no-load`: the default must stay as fast as the hand loop without the load (c/b) and be
 * at least as gentle under it.
 */
const DEFAULTS_ARMS: Arm[] = engineArms([
  SYNC_OFF,
  SYNC_ON,
  ...[15, 10].map((ms) => ({ label: `maxLockMs ${ms}, synchronous_commit on`, backfill: { maxLockMs: ms, synchronousCommit: true } })),
]);

/**
 * `--set canary`: what the latency canary itself costs the application. The engine held at 2 ms
 * synchronous transactions, without a budget and with a budget it never reaches (ratio 100, so the
 * loop never engages but the canary samples throughout), with the read probe alone and with the
 * commit probe too.
 */
function canaryArms(rows: number): Arm[] {
  const query = budgetQuery(rows);
  const small = shortSynchronous(2);
  return variantArms([
    small,
    { label: '+ canary, read', backfill: { ...small.backfill, health: { latency: { query, ratio: 100 } } } },
    { label: '+ canary, read and commit', backfill: { ...small.backfill, health: { latency: { query, commit: true, ratio: 100 } } } },
  ]);
}

/** Runs `fn` on a fresh copy of the template beside the one at `url` (named after it), dropped after. */
async function onAnotherCopy<T>(s: InterleaveSettings, url: string, fn: (other: string) => Promise<T>): Promise<T> {
  const name = `${new URL(url).pathname.slice(1)}_other`;
  const other = await freshCopy(s.adminUrl, s.template, name);
  try {
    return await fn(other);
  } finally {
    await dropDatabases(s.adminUrl, [name]);
  }
}

/**
 * `--set path`: the same backfill (the example's, ferry's defaults) three ways: the hand loop, the
 * engine in this process, and ferry end to end as (c) runs it (a worker process, the workflow on
 * Temporal): whether what (c) adds to the application's p99 comes from the engine or from the way
 * to it. Each ferry run gets a migration of its own in `setup.migrationsDir`.
 */
function pathArms(setup: FerrySetup, stamp: string): Arm[] {
  let runs = 0;
  const viaTemporal = async (url: string) => {
    const name = `sweep-${stamp}-${runs++}`;
    writeBenchMigration(setup.migrationsDir, name);
    return runFerry(setup, url, name, 0);
  };
  return [
    { label: 'hand loop', run: handLoop },
    { label: 'engine in-process', run: (url: string) => runEngine(url, { label: 'defaults' }) },
    { label: 'ferry through Temporal', run: viaTemporal },
  ];
}

/** The latency budgets swept by `--set budget`: ratios to each probe's own baseline (the read and a commit). */
export const BUDGET_RATIOS = [1.2, 1.5, 2, 3];

/** The variants of a budget sweep over `ratios`, plus no budget. */
export function budgetVariants(ratios: number[], rows: number): EngineVariant[] {
  const query = budgetQuery(rows);
  return [
    { label: 'no budget' },
    ...ratios.map((ratio) => ({ label: `budget ${ratio}x`, backfill: { health: { latency: { query, commit: true, ratio } } } })),
  ];
}

/** One point of a sweep: with several rounds, the median of each figure and every round's. */
export interface SweepPoint {
  label: string;
  rowsPerSec: number;
  p50Ratio: number;
  p99Ratio: number;
  p99Ms: number;
  baselineP99Ms: number;
  /** The application's updates (they commit, so they wait for the WAL flush) during the run, and in its baseline. */
  updateP99Ms: number;
  baselineUpdateP99Ms: number;
  /** The application's point reads during the run, and in its baseline. */
  readP99Ms: number;
  baselineReadP99Ms: number;
  transactions?: number;
  throttledMs?: number;
  throttleReason?: string;
  /** Each round's rows/s and p99 ratio, in the order run (present with `rounds` > 1). */
  rounds?: { rowsPerSec: number[]; p99Ratio: number[] };
}

/** The control arm's label: a window of the load alone where a backfill would be (the noise floor of a ratio). */
export const NO_BACKFILL = 'no backfill (A/A)';

/** One arm of a sweep: the hand loop, an engine variant, or the control. */
export interface Arm {
  label: string;
  run: (url: string) => Promise<{
    startMs: number;
    endMs: number;
    rowsPerSec: number;
    transactions?: number;
    throttledMs?: number;
    throttleReason?: string;
  }>;
}

/**
 * The hand loop and each variant (and, with `control`, a window without any backfill: the A/A
 * control), each between baselines on its own copy of `s.template`; `rounds` times, the order
 * rotated each round so that no arm always runs first or last. Each figure is the median of the
 * rounds (each round's ratio is to its own interleaved baselines).
 */
export function sweep(
  s: InterleaveSettings,
  prefix: string,
  variants: EngineVariant[],
  options: { rounds?: number; control?: boolean } = {},
): Promise<SweepPoint[]> {
  return sweepArms(s, prefix, engineArms(variants), options);
}

/** The hand loop, then the engine with each of `variants`. */
function engineArms(variants: EngineVariant[]): Arm[] {
  return [{ label: 'hand loop', run: handLoop }, ...variantArms(variants)];
}

/** The engine with each of `variants`. */
function variantArms(variants: EngineVariant[]): Arm[] {
  return variants.map((v) => ({ label: v.label, run: (url: string) => runEngine(url, v) }));
}

/** `sweep` of any arms (with `control`, the A/A arm last). */
export async function sweepArms(
  s: InterleaveSettings,
  prefix: string,
  given: Arm[],
  options: { rounds?: number; control?: boolean } = {},
): Promise<SweepPoint[]> {
  const rounds = options.rounds ?? 1;
  const arms: Arm[] = options.control ? [...given, { label: NO_BACKFILL, run: () => idleWindow(s.baselineSeconds) }] : given;
  const byArm: SweepPoint[][] = arms.map(() => []);
  for (let r = 0; r < rounds; r++) {
    for (const i of rotation(arms.length, r)) {
      const arm = arms[i];
      const run = await interleaved(s, `${prefix}_r${r}_v${i}`, arm.run);
      const { transactions, throttledMs, throttleReason } = run.result;
      byArm[i].push({ ...point(arm.label, run.result.rowsPerSec, run), transactions, throttledMs, throttleReason });
      const of = rounds > 1 ? ` (round ${r + 1} of ${rounds})` : '';
      log(
        `${arm.label}${of}: ${Math.round(run.result.rowsPerSec)} rows/s, p99 ×${run.p99Ratio}${transactions ? `, ${transactions} transactions` : ''}`,
      );
    }
  }
  return byArm.map((runs) => (runs.length === 1 ? runs[0] : medianPoint(runs)));
}

/** One arm's rows/s without the load (`--no-load`): each round's, the median, and the median's ratio to the first arm's. */
export interface QuietPoint {
  label: string;
  rowsPerSec: number;
  vsFirst: number;
  rounds: number[];
}

/**
 * `--no-load`: each arm on its own fresh copy of `s.template` with nothing else running, `rounds`
 * times in rotated order: throughput side by side, as ratios to the first arm (the hand loop).
 */
export async function quietArms(s: InterleaveSettings, prefix: string, arms: Arm[], rounds: number): Promise<QuietPoint[]> {
  const byArm: number[][] = arms.map(() => []);
  for (let r = 0; r < rounds; r++) {
    for (const i of rotation(arms.length, r)) {
      const name = `${prefix}_q${r}_v${i}`;
      const url = await freshCopy(s.adminUrl, s.template, name);
      try {
        byArm[i].push(Math.round((await arms[i].run(url)).rowsPerSec));
      } finally {
        await dropDatabases(s.adminUrl, [name]);
      }
      log(`${arms[i].label} (round ${r + 1} of ${rounds}, no load): ${byArm[i].at(-1)} rows/s`);
    }
  }
  const first = median(byArm[0]);
  return arms.map((arm, i) => ({
    label: arm.label,
    rowsPerSec: median(byArm[i]),
    vsFirst: round(median(byArm[i]) / first, 3),
    rounds: byArm[i],
  }));
}

/** A window of the load alone as long as a baseline, standing where a backfill would. */
async function idleWindow(seconds: number) {
  const startMs = Date.now();
  await sleep(seconds * 1000);
  return { startMs, endMs: Date.now(), rowsPerSec: 0 };
}

/** The median of each figure over the rounds of one arm, and every round's rows/s and p99 ratio. */
function medianPoint(runs: SweepPoint[]): SweepPoint {
  const med = (key: (p: SweepPoint) => number) => round(median(runs.map(key)), 2);
  const last = runs[runs.length - 1];
  return {
    label: last.label,
    rowsPerSec: Math.round(median(runs.map((p) => p.rowsPerSec))),
    p50Ratio: med((p) => p.p50Ratio),
    p99Ratio: med((p) => p.p99Ratio),
    p99Ms: med((p) => p.p99Ms),
    baselineP99Ms: med((p) => p.baselineP99Ms),
    updateP99Ms: med((p) => p.updateP99Ms),
    baselineUpdateP99Ms: med((p) => p.baselineUpdateP99Ms),
    readP99Ms: med((p) => p.readP99Ms),
    baselineReadP99Ms: med((p) => p.baselineReadP99Ms),
    transactions: last.transactions,
    throttledMs: last.throttledMs === undefined ? undefined : med((p) => p.throttledMs ?? 0),
    throttleReason: last.throttleReason,
    rounds: { rowsPerSec: runs.map((p) => p.rowsPerSec), p99Ratio: runs.map((p) => p.p99Ratio) },
  };
}

function point(
  label: string,
  rowsPerSec: number,
  r: {
    p50Ratio: number;
    p99Ratio: number;
    during: { p99Ms: number; updateP99Ms: number; readP99Ms: number };
    baseline: { p99Ms: number; updateP99Ms: number; readP99Ms: number };
  },
): SweepPoint {
  return {
    label,
    rowsPerSec: Math.round(rowsPerSec),
    p50Ratio: r.p50Ratio,
    p99Ratio: r.p99Ratio,
    p99Ms: r.during.p99Ms,
    baselineP99Ms: r.baseline.p99Ms,
    updateP99Ms: r.during.updateP99Ms,
    baselineUpdateP99Ms: r.baseline.updateP99Ms,
    readP99Ms: r.during.readP99Ms,
    baselineReadP99Ms: r.baseline.readP99Ms,
  };
}

function arg(argv: string[], flag: string, fallback: string): string {
  const i = argv.indexOf(flag);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : fallback;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const rows = Number(arg(argv, '--rows', '300000'));
  const set = arg(argv, '--set', 'lock');
  const stamp = Date.now().toString(36);
  const outDir = path.join(__dirname, '..', '..', 'bench-results');
  const stack = set === 'path' ? await startStack({ log }) : undefined;
  const setup: FerrySetup | undefined = stack && {
    temporalAddress: stack.temporalAddress,
    namespace: stack.namespace,
    taskQueue: `ferry-sweep-${stamp}`,
    migrationsDir: path.join(outDir, `migrations-sweep-${stamp}`),
    outDir,
  };
  const sets: Record<string, Arm[]> = {
    budget: engineArms(budgetVariants(BUDGET_RATIOS, rows)),
    sync: engineArms(SYNC_VARIANTS),
    lock: engineArms(LOCK_VARIANTS),
    gentle: engineArms(GENTLE_VARIANTS),
    pacing: PACING_ARMS,
    small: SMALL_ARMS,
    floor: floorArms(rows),
    stage: stageArms(rows),
    defaults: DEFAULTS_ARMS,
    canary: canaryArms(rows),
    ...(setup && { path: pathArms(setup, stamp) }),
  };
  const options = { rounds: Number(arg(argv, '--rounds', '1')), control: argv.includes('--control') };
  const template = `ferry_sweep_${stamp}_template`;
  const s: InterleaveSettings = {
    adminUrl: ADMIN_URL,
    template,
    rows,
    appRate: 400,
    appConnections: 4,
    appMaxSeconds: 900,
    baselineSeconds: Number(arg(argv, '--baseline-seconds', '5')),
    outDir,
  };
  const arms = set === 'shape' ? shapeArms(s) : sets[set];
  if (!arms) throw new Error(`--set must be one of ${[...Object.keys(sets), 'shape', 'path'].join(', ')}, got "${set}"`);
  log(
    `generating ${rows} rows in "${template}"; load average ${os
      .loadavg()
      .map((v) => v.toFixed(1))
      .join(' ')}`,
  );
  try {
    await createTemplate(ADMIN_URL, template, rows);
    if (argv.includes('--no-load')) {
      const quiet = await quietArms(s, `ferry_sweep_${stamp}`, arms, options.rounds);
      for (const p of quiet)
        log(`${p.label.padEnd(40)} ${String(p.rowsPerSec).padStart(7)} rows/s  ×${p.vsFirst} of the first  (${p.rounds.join(' ')})`);
      console.log(JSON.stringify({ rows, set, load: false, loadAverage: os.loadavg().map((v) => round(v, 2)), points: quiet }));
      return;
    }
    const points = await sweepArms(s, `ferry_sweep_${stamp}`, arms, options);
    for (const p of points)
      log(
        `${p.label.padEnd(40)} ${String(p.rowsPerSec).padStart(7)} rows/s  p50 ×${p.p50Ratio}  p99 ×${p.p99Ratio} (${p.p99Ms} ms / ${p.baselineP99Ms} ms)` +
          `  reads ${p.readP99Ms} / ${p.baselineReadP99Ms} ms, updates ${p.updateP99Ms} / ${p.baselineUpdateP99Ms} ms` +
          (p.rounds ? `  rounds: ×${p.rounds.p99Ratio.join(' ×')}` : ''),
      );
    console.log(JSON.stringify({ rows, set, loadAverage: os.loadavg().map((v) => round(v, 2)), points }));
  } finally {
    await dropDatabases(ADMIN_URL, [template]);
    if (setup) fs.rmSync(setup.migrationsDir, { recursive: true, force: true });
    await stack?.stop();
  }
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
