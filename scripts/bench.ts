/**
 * `npm run bench`: the posts-member-uuid backfill on one generated table (1,000,000 rows by
 * default; `npm run bench -- --rows 100000`), three ways side by side, each on a fresh copy of the
 * same table: (a) one UPDATE, (b) a hand-written keyset loop, (c) ferry end to end through
 * Temporal. Then the application's p50/p99 latency under a steady load during (b), (c) and (d) ferry
 * with a latency budget (its probes: the load's read and a commit), each between two windows without a backfill (interleaved baselines), and
 * a sweep of budgets that draws the frontier (throughput against the application's p99 ratio). `--json` prints one JSON object on stdout; logs go to stderr. Every run
 * writes bench-results/<timestamp>.json and .svg and copies the chart to docs/benchmark-latest.svg.
 * See docs/benchmarks.md.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startStack, type Stack } from '../devstack/stack';
import { connectClient } from '../src/client/connect';
import { loadConfig } from '../src/config';
import { parseArgs, type BenchArgs } from './bench/args';
import { terminateAll } from './bench/children';
import { renderChart } from './bench/chart';
import { frontierChart } from './bench/frontier';
import { createTemplate, dropDatabases, freshCopy, otherActiveSessions, serverInfo } from './bench/databases';
import { BUDGET_RATIOS, budgetVariants, sweep, type SweepPoint } from './bench/engine-sweep';
import { deleteWorkflow, runFerry, writeBenchMigration, writeBudgetMigration, type FerryRun, type FerrySetup } from './bench/ferry-run';
import type { LoadSample } from './bench/load-child';
import { ratiosToQuieter, startLoad, type Window } from './bench/load';
import { log, sleep } from './bench/log';
import { handLoop, singleUpdate, type HandLoopResult, type MethodResult } from './bench/methods';
import { buildSummary, chartPanels, formatText, timelines, type BenchData, type BenchSummary } from './bench/report';
import { rotation } from './bench/stats';
import { startCpuSampler } from './bench/system';
import { batchTarget } from './bench/target';

const ROOT = path.resolve(__dirname, '..');
const OUT_DIR = path.join(ROOT, 'bench-results');
const WARM_UP_MS = 2000;

/** The names one run uses: databases, migrations, task queue, files. Repetitions and rounds are numbered from 1. */
function namesFor(stamp: string, repeat: number, loadRoundCount: number) {
  const prefix = `ferry_bench_${stamp.replace(/-/g, '_')}`;
  const db = (suffix: string) => `${prefix}_${suffix}`;
  const runs = Array.from({ length: repeat }, (_, i) => ({
    single: db(`single_${i + 1}`),
    hand: db(`hand_${i + 1}`),
    ferry: db(`ferry_${i + 1}`),
    migration: `bench-${stamp}-idle-${i + 1}`,
  }));
  const loadRounds = Array.from({ length: loadRoundCount }, (_, i) => ({
    handLoad: db(`hand_load_${i + 1}`),
    ferryLoad: db(`ferry_load_${i + 1}`),
    budgetLoad: db(`budget_load_${i + 1}`),
    loadMigration: `bench-${stamp}-load-${i + 1}`,
    budgetMigration: `bench-${stamp}-budget-${i + 1}`,
  }));
  return {
    prefix,
    template: db('template'),
    frontierTemplate: db('frontier_template'),
    runs,
    loadRounds,
    migrationsDir: path.join(OUT_DIR, `migrations-${stamp}`),
    taskQueue: `ferry-bench-${stamp}`,
  };
}

/** Every database and migration name of the run. */
function allNames(names: Names): { databases: string[]; migrations: string[] } {
  return {
    databases: [
      names.template,
      names.frontierTemplate,
      ...names.loadRounds.flatMap((r) => [r.handLoad, r.ferryLoad, r.budgetLoad]),
      ...names.runs.flatMap((r) => [r.single, r.hand, r.ferry]),
    ],
    migrations: [...names.loadRounds.flatMap((r) => [r.loadMigration, r.budgetMigration]), ...names.runs.map((r) => r.migration)],
  };
}

type Names = ReturnType<typeof namesFor>;

/** The run's context: stack, options, names, and what to undo at the end. */
interface Ctx {
  args: BenchArgs;
  stack: Stack;
  names: Names;
  ferry: FerrySetup;
  cpu: ReturnType<typeof startCpuSampler>;
}

/** Runs `fn` on a fresh copy of the template named `name`, dropping the copy afterwards unless --keep. */
async function onCopy<T>(ctx: Ctx, name: string, fn: (url: string) => Promise<T>): Promise<T> {
  const url = await freshCopy(ctx.stack.databaseUrl, ctx.names.template, name);
  try {
    return await fn(url);
  } finally {
    if (!ctx.args.keep) await dropDatabases(ctx.stack.databaseUrl, [name]);
  }
}

/** The application load alone for `--baseline-seconds`: a window without any backfill. */
async function baselineWindow(ctx: Ctx): Promise<Window> {
  log(`baseline: the application load alone for ${ctx.args.baselineSeconds} s`);
  const startMs = Date.now();
  await sleep(ctx.args.baselineSeconds * 1000);
  return { startMs, endMs: Date.now() };
}

/**
 * Runs `fn` on a fresh copy under the application load, which starts `WARM_UP_MS` before it and
 * stops after it; returns what `fn` returned and every load sample.
 */
async function underLoad<T>(ctx: Ctx, name: string, fn: (url: string) => Promise<T>): Promise<T & { samples: LoadSample[] }> {
  return onCopy(ctx, name, async (url) => {
    const { rows, appConnections: connections, appRate: ratePerSecond, appMaxSeconds: maxSeconds } = ctx.args;
    const load = await startLoad({ url, rows, connections, ratePerSecond, maxSeconds }, OUT_DIR);
    let samples: LoadSample[] | undefined;
    try {
      await sleep(WARM_UP_MS);
      const result = await fn(url);
      samples = await load.stop();
      return { ...result, samples };
    } finally {
      if (!samples) await load.stop().catch(() => undefined);
    }
  });
}

/** (b) under the application load, between two baseline windows (interleaved, so drift cancels in its ratios). */
function handUnderLoad(ctx: Ctx, database: string) {
  return underLoad(ctx, database, async (url) => {
    const before = await baselineWindow(ctx);
    log('(b) hand keyset loop under the application load');
    const hand = await handLoop(url);
    return { baselines: [before, await baselineWindow(ctx)], hand };
  });
}

/**
 * Migration `migration` ((c), or (d) with its budget) under the application load, from before
 * `ferry start` to awaiting-approval, between a baseline window once the worker is up and one after.
 */
function ferryUnderLoad(ctx: Ctx, database: string, migration: string, label: string) {
  return underLoad(ctx, database, async (url) => {
    let before: Window | undefined;
    const ferry = await runFerry(ctx.ferry, url, migration, ctx.args.rows, async () => {
      before = await baselineWindow(ctx);
      log(`${label} under the application load`);
    });
    return { baselines: [before!, await baselineWindow(ctx)], ferry };
  });
}

/** The frontier: the hand loop and ferry's engine without and with budgets, each between baselines, on `--frontier-rows`. */
async function frontierSweep(ctx: Ctx): Promise<SweepPoint[]> {
  const { args, names, stack } = ctx;
  const template = args.frontierRows === args.rows ? names.template : names.frontierTemplate;
  if (template !== names.template) await createTemplate(stack.databaseUrl, template, args.frontierRows);
  log(`frontier: budgets ${BUDGET_RATIOS.join(', ')} × baseline p99 on ${args.frontierRows.toLocaleString('en-US')} rows`);
  const settings = {
    adminUrl: stack.databaseUrl,
    template,
    rows: args.frontierRows,
    appRate: args.appRate,
    appConnections: args.appConnections,
    appMaxSeconds: args.appMaxSeconds,
    baselineSeconds: Math.max(5, Math.round(args.baselineSeconds / 2)),
    outDir: OUT_DIR,
    keep: args.keep,
  };
  return sweep(settings, `${names.prefix}_frontier`, budgetVariants(BUDGET_RATIOS, args.frontierRows), {
    rounds: args.frontierRounds,
    control: true,
  });
}

/** The commit measured, and the engine files that differ from it (other work in the same tree). */
function codeVersion(): { commit: string; uncommitted: string[] } {
  const git = (...args: string[]) => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trimEnd();
  try {
    const status = git('status', '--porcelain', '--', 'activities', 'workflows', 'src', 'migrations'); // ' M path': keep the leading blank
    return { commit: git('rev-parse', '--short', 'HEAD'), uncommitted: status ? status.split('\n').map((l) => l.slice(3)) : [] };
  } catch {
    return { commit: 'unknown (no git)', uncommitted: [] };
  }
}

async function machineInfo(ctx: Ctx): Promise<Record<string, unknown>> {
  return {
    code: codeVersion(),
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    memoryGb: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    postgres: await serverInfo(ctx.stack.databaseUrl),
    loadAverageAtStart: os.loadavg().map((v) => Math.round(v * 100) / 100),
    otherActiveSessionsAtStart: await otherActiveSessions(ctx.stack.databaseUrl, ctx.names.prefix),
  };
}

/** The element with the median of `key` (the lower middle for an even count). */
function medianBy<T>(items: T[], key: (item: T) => number): T {
  return [...items].sort((a, b) => key(a) - key(b))[Math.floor((items.length - 1) / 2)];
}

/** (a), (b), (c) without load, `--repeat` times interleaved; the median run of each, and every rate. */
async function throughputRuns(ctx: Ctx) {
  const single: MethodResult[] = [];
  const hand: HandLoopResult[] = [];
  const ferry: FerryRun[] = [];
  for (const [i, run] of ctx.names.runs.entries()) {
    const of = ctx.args.repeat > 1 ? ` (run ${i + 1} of ${ctx.args.repeat})` : '';
    log(`(a) single UPDATE${of}`);
    single.push(await onCopy(ctx, run.single, singleUpdate));
    log(`(a) ${Math.round(single[i].rowsPerSec)} rows/s; (b) hand keyset loop${of}`);
    hand.push(await onCopy(ctx, run.hand, handLoop));
    log(`(b) ${Math.round(hand[i].rowsPerSec)} rows/s; (c) ferry through Temporal${of}`);
    ferry.push(await onCopy(ctx, run.ferry, (url) => runFerry(ctx.ferry, url, run.migration, ctx.args.rows)));
    log(`(c) ${Math.round(ferry[i].rowsPerSec)} rows/s`);
  }
  const rates = (rs: { rowsPerSec: number }[]) => rs.map((r) => Math.round(r.rowsPerSec));
  const median = <T extends { rowsPerSec: number }>(rs: T[]) => medianBy(rs, (r) => r.rowsPerSec);
  return {
    single: median(single),
    hand: median(hand),
    ferry: median(ferry),
    runs: { single: rates(single), hand: rates(hand), ferry: rates(ferry) },
    ferryRuns: ferry,
  };
}

type HandUnderLoad = Awaited<ReturnType<typeof handUnderLoad>>;
type FerryUnderLoad = Awaited<ReturnType<typeof ferryUnderLoad>>;

/** The application's p99 during `w` ÷ the same in the quieter of its interleaved baselines. */
function p99Ratio(run: { samples: LoadSample[]; baselines: Window[] }, w: Window): number {
  return ratiosToQuieter(run.samples, w, run.baselines).p99;
}

/**
 * (b), (c) and (d) under the load, `--load-rounds` times, the order rotated each round (b c d,
 * c d b, d b c) so that no method always runs first; for each method the round with the median
 * p99 ratio (the lower middle for an even count), and every round's ratio.
 */
async function loadRounds(ctx: Ctx) {
  const { args, names } = ctx;
  const hands: HandUnderLoad[] = [];
  const ferries: FerryUnderLoad[] = [];
  const budgets: FerryUnderLoad[] = [];
  for (const [r, n] of names.loadRounds.entries()) {
    const of = names.loadRounds.length > 1 ? ` (round ${r + 1} of ${names.loadRounds.length})` : '';
    const steps = [
      async () => hands.push(await handUnderLoad(ctx, n.handLoad)),
      async () => ferries.push(await ferryUnderLoad(ctx, n.ferryLoad, n.loadMigration, `(c) ferry${of}`)),
      async () =>
        budgets.push(
          await ferryUnderLoad(
            ctx,
            n.budgetLoad,
            n.budgetMigration,
            `(d) ferry with a latency budget of ${args.budgetRatio} × (read and commit probes)${of}`,
          ),
        ),
    ];
    for (const i of rotation(steps.length, r)) await steps[i]();
  }
  const handRatios = hands.map((h) => p99Ratio(h, h.hand));
  const ferryRatios = ferries.map((f) => p99Ratio(f, f.ferry));
  const budgetRatios = budgets.map((b) => p99Ratio(b, b.ferry));
  const medianOf = <T>(runs: T[], ratios: number[]) => runs[ratios.indexOf(medianBy(ratios, (v) => v))];
  return {
    withHand: medianOf(hands, handRatios),
    withFerry: medianOf(ferries, ferryRatios),
    withBudget: medianOf(budgets, budgetRatios),
    rounds: { handLoop: handRatios, ferry: ferryRatios, budget: budgetRatios },
  };
}

/** Every measurement, in order. */
async function measure(ctx: Ctx): Promise<BenchData> {
  const { args, names } = ctx;
  const startedAt = new Date().toISOString();
  const machine = await machineInfo(ctx);
  log(`generating ${args.rows.toLocaleString('en-US')} posts in template database "${names.template}"`);
  const templateSeconds = await createTemplate(ctx.stack.databaseUrl, names.template, args.rows);
  const idle = await throughputRuns(ctx);
  log('now under the application load');
  const { withHand, withFerry, withBudget, rounds } = await loadRounds(ctx);
  const frontier = args.frontier ? await frontierSweep(ctx) : [];
  machine.loadAverageAtEnd = os.loadavg().map((v) => Math.round(v * 100) / 100);
  const load = {
    connections: args.appConnections,
    ratePerSecond: args.appRate,
    samples: [...withHand.samples, ...withFerry.samples, ...withBudget.samples],
    baselines: [...withHand.baselines, ...withFerry.baselines, ...withBudget.baselines],
    interleaved: { hand: withHand.baselines, ferry: withFerry.baselines, budget: withBudget.baselines },
    hand: withHand.hand,
    ferry: withFerry.ferry,
    budget: withBudget.ferry,
    budgetRatio: args.budgetRatio,
    cpu: ctx.cpu.samples,
    rounds,
  };
  const command = `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim().replace(/ --$/, '');
  return {
    rows: args.rows,
    command,
    startedAt,
    machine,
    templateSeconds,
    single: idle.single,
    hand: idle.hand,
    ferry: idle.ferry,
    runs: idle.runs,
    ferryRuns: idle.ferryRuns,
    target: batchTarget(),
    load,
    frontier: { rows: args.frontierRows, points: frontier },
  };
}

/** Writes bench-results/<stamp>.json and .svg, and copies the chart to docs/benchmark-latest.svg. */
function writeResults(stamp: string, data: BenchData, summary: BenchSummary): string[] {
  const panels = chartPanels(data, summary);
  const n = (v: number) => v.toLocaleString('en-US', { maximumFractionDigits: 0 });
  const heading = [
    `ferry bench: ${n(summary.rows)} rows (posts-member-uuid, batch size ${summary.ferry.batchSize}), ${summary.startedAt.slice(0, 16)}Z`,
    `(a) single UPDATE ${n(summary.singleUpdate.rowsPerSec)} rows/s · (b) hand loop ${n(summary.handLoop.rowsPerSec)} · (c) ferry ${n(summary.ferry.rowsPerSec)} · ` +
      `c/b ${summary.ratios.ferryVsHandLoop} · c/a ${summary.ratios.ferryVsSingleUpdate} · ${summary.machine.cpus} CPUs` +
      (summary.repeat > 1 ? ` · median of ${summary.repeat} runs` : ''),
  ];
  const svg = renderChart(heading, panels);
  const json = path.join(OUT_DIR, `${stamp}.json`);
  const chart = path.join(OUT_DIR, `${stamp}.svg`);
  const latest = path.join(ROOT, 'docs', 'benchmark-latest.svg');
  fs.writeFileSync(json, JSON.stringify({ ...summary, timelines: timelines(panels) }, null, 2));
  fs.writeFileSync(chart, svg);
  fs.writeFileSync(path.join(OUT_DIR, `${stamp}-frontier.txt`), `${frontierChart(summary.frontier.points)}\n`);
  fs.copyFileSync(chart, latest);
  return [json, chart, latest].map((f) => path.relative(ROOT, f));
}

/** Removes what this run made: its databases, its migration files, its workflows. */
async function cleanUp(ctx: Ctx): Promise<void> {
  fs.rmSync(ctx.names.migrationsDir, { recursive: true, force: true });
  if (ctx.args.keep) return log(`kept databases ${ctx.names.prefix}_* and workflows migration/bench-* (--keep)`);
  await forgetWorkflows(ctx).catch((err) => log(`could not delete the bench workflows: ${(err as Error).message}`));
  await dropDatabases(ctx.stack.databaseUrl, allNames(ctx.names).databases).catch((err) =>
    log(`could not drop the bench databases: ${(err as Error).message}`),
  );
}

/** Terminates (if still running) and deletes every run of the bench's workflows. */
async function forgetWorkflows(ctx: Ctx): Promise<void> {
  const fc = await connectClient(
    loadConfig({
      TEMPORAL_ADDRESS: ctx.stack.temporalAddress,
      TEMPORAL_NAMESPACE: ctx.stack.namespace,
      FERRY_TASK_QUEUE: ctx.names.taskQueue,
    }),
  );
  try {
    for (const name of allNames(ctx.names).migrations) {
      const workflowId = `migration/${name}`;
      const runIds: string[] = [];
      for await (const wf of fc.client.workflow.list({ query: `WorkflowId = "${workflowId}"` })) {
        if (wf.status.name === 'RUNNING') await fc.client.workflow.getHandle(workflowId, wf.runId).terminate('bench cleanup');
        runIds.push(wf.runId);
      }
      await deleteWorkflow(fc, workflowId, runIds);
    }
  } finally {
    await fc.close();
  }
}

/** Prints the results: one JSON object with `--json`, else the text report. */
function output(args: BenchArgs, summary: BenchSummary, files: string[]): void {
  if (args.json) console.log(JSON.stringify({ ...summary, files }));
  else console.log(formatText(summary, files));
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-').toLowerCase();
  fs.mkdirSync(OUT_DIR, { recursive: true });
  const names = namesFor(stamp, args.repeat, args.loadRounds);
  const budgetMigrations = names.loadRounds.map((r) => r.budgetMigration);
  for (const name of allNames(names).migrations) if (!budgetMigrations.includes(name)) writeBenchMigration(names.migrationsDir, name);
  for (const name of budgetMigrations) writeBudgetMigration(names.migrationsDir, name, args.budgetRatio, args.rows);
  const stack = await startStack({ log });
  const ferry: FerrySetup = {
    temporalAddress: stack.temporalAddress,
    namespace: stack.namespace,
    taskQueue: names.taskQueue,
    migrationsDir: names.migrationsDir,
    outDir: OUT_DIR,
  };
  const ctx: Ctx = { args, stack, names, ferry, cpu: startCpuSampler() };
  let finishing: Promise<void> | undefined;
  const finish = () => (finishing ??= cleanUp(ctx).finally(() => (ctx.cpu.stop(), stack.stop())));
  const interrupted = () => {
    log('interrupted: stopping the worker and the load, removing the databases and workflows');
    process.exitCode = 130;
    terminateAll();
    void finish().finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupted).once('SIGTERM', interrupted);
  try {
    const data = await measure(ctx);
    const summary = buildSummary(data);
    output(args, summary, writeResults(stamp, data, summary));
  } finally {
    await finish();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    if (process.exitCode === 130) return; // interrupted: the signal handler exits once clean
    console.error(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : err}`);
    process.exit(1);
  },
);
