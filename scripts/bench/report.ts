/** Turns the bench's measurements into the summary (stdout JSON), the chart and the text report. */
import { runSettings } from '../../src/config';
import type { Panel } from './chart';
import type { FerryRun } from './ferry-run';
import type { LoadSample } from './load-child';
import { p99PerSecond, ratiosToQuieter, summarise, type LatencySummary, type Window } from './load';
import { cpuBusyPct, type CpuSample } from './system';
import type { HandLoopResult, MethodResult } from './methods';
import { ratePerSecond, rateBetweenPolls, round, type Point } from './stats';
import type { SweepPoint } from './engine-sweep';
import { frontierChart } from './frontier';

/** Everything one bench run measured. */
export interface BenchData {
  rows: number;
  command: string;
  startedAt: string;
  machine: Record<string, unknown>;
  templateSeconds: number;
  single: MethodResult;
  hand: HandLoopResult;
  ferry: FerryRun;
  /** rows/s of every run of (a), (b), (c) without load (`--repeat`); the figures above are the median runs. */
  runs: { single: number[]; hand: number[]; ferry: number[] };
  /** Every run of (c) without load, in order. */
  ferryRuns: FerryRun[];
  target: { ms: number; source: string };
  load: {
    connections: number;
    ratePerSecond: number;
    samples: LoadSample[];
    /** Windows of the load without a backfill: before and after (b), (c) and (d), all pooled. */
    baselines: Window[];
    /** Each method's own baselines (before and after it, on its copy): its ratios' denominators. */
    interleaved: { hand: Window[]; ferry: Window[]; budget: Window[] };
    hand: HandLoopResult;
    ferry: FerryRun;
    /** (d): ferry with a latency budget of `budgetRatio` × each probe's p99 before the backfill (the read and a commit). */
    budget: FerryRun;
    budgetRatio: number;
    cpu: CpuSample[];
    /** Every round's p99 ratio of each method (`--load-rounds`); the figures above are each method's median round. */
    rounds: { handLoop: number[]; ferry: number[]; budget: number[] };
  };
  /** The budget sweep (scripts/bench/engine-sweep.ts) on `rows` rows; no points with --no-frontier. */
  frontier: { rows: number; points: SweepPoint[] };
}

const TEN_MILLION = 10_000_000;

/** Where ferry's backfill time goes, from the history and the chunks' own results. */
function overhead(f: FerryRun, hand: HandLoopResult) {
  const chunks = f.history.chunks;
  const loopMs = chunks.reduce((s, c) => s + c.result.elapsedMs, 0);
  const batches = chunks.reduce((s, c) => s + c.result.batches, 0);
  const activityMs = chunks.reduce((s, c) => s + (c.completedMs - c.scheduledMs), 0);
  const betweenChunksMs = f.endMs - f.startMs - activityMs;
  const reasons = chunks.map((c) => (c.result as { throttleReason?: string }).throttleReason).filter((r) => r !== undefined);
  return {
    chunks: chunks.length,
    batches,
    batchLoopMs: loopMs,
    activityOutsideLoopMs: activityMs - loopMs,
    betweenChunksMs,
    // waiting for the health gate (blocked backends, replica lag, autovacuum): 0 while ChunkResult has no throttledMs
    throttledMs: chunks.reduce((s, c) => s + ((c.result as { throttledMs?: number }).throttledMs ?? 0), 0),
    throttleReasons: [...new Set(reasons)],
    meanBatchMs: round(loopMs / Math.max(1, batches), 2),
    handLoopMeanBatchMs: round((hand.seconds * 1000) / Math.max(1, hand.batches), 2),
    lastCheckpointToCompletionMs: Math.round(f.endMs - f.lastCheckpointMs),
  };
}

/** What varies from one run of (c) to the next: size reached, batches, throttling. */
function runDetail(f: FerryRun) {
  const last = f.history.chunks.at(-1)?.result as { batchSize?: number } | undefined;
  return {
    rowsPerSec: round(f.rowsPerSec),
    seconds: round(f.seconds, 2),
    batches: f.history.chunks.reduce((s, c) => s + c.result.batches, 0),
    batchMsMedian: round(f.batchMsMedian, 1),
    finalBatchSize: last?.batchSize ?? null,
    throttledMs: f.history.chunks.reduce((s, c) => s + ((c.result as { throttledMs?: number }).throttledMs ?? 0), 0),
  };
}

/** The history's size projected to a 10M-row table at the measured rate and ferry's default chunk length. */
function projectedEvents(f: FerryRun): number {
  const chunkSeconds = runSettings({}).chunkMs / 1000;
  const perRound = f.history.backfillEvents / Math.max(1, f.history.chunks.length);
  const rounds = Math.ceil(TEN_MILLION / (f.rowsPerSec * chunkSeconds));
  return Math.round(f.history.events - f.history.backfillEvents + perRound * rounds);
}

function ferrySummary(d: BenchData) {
  const f = d.ferry;
  return {
    rowsPerSec: round(f.rowsPerSec),
    runsRowsPerSec: d.runs.ferry,
    runDetails: d.ferryRuns.map(runDetail),
    seconds: round(f.seconds, 2),
    rowsScanned: f.rowsScanned,
    measuredFrom:
      'Temporal history: first backfillChunk ActivityTaskScheduled to last backfillChunk ActivityTaskCompleted ' +
      '(includes activity dispatch, the chunk setup, every batch transaction with its checkpoint, heartbeats and the result report; ' +
      'excludes expand, the deploy probe, initBackfill, the round bookkeeping after the last chunk, verify)',
    rowsPerSecToLastCheckpoint: round(f.rowsScanned / ((f.lastCheckpointMs - f.startMs) / 1000)),
    endToEndSeconds: round(f.endToEndSeconds, 1),
    historyEvents: f.history.events,
    historyRuns: f.history.runs,
    historyBackfillEvents: f.history.backfillEvents,
    historyEventsProjected10M: projectedEvents(f),
    workerPeakRssMb: f.rss.peakMb,
    workerCpuSeconds: f.workerCpuSeconds,
    workerRssDuringBackfillMb: { start: f.rss.backfillStartMb, peak: f.rss.backfillPeakMb, end: f.rss.backfillEndMb },
    batchMsMedian: round(f.batchMsMedian, 1),
    batchMsTarget: d.target.ms,
    batchMsTargetSource: d.target.source,
    batchSize: d.hand.batchSize,
    // the size the engine's sizer had reached at the end; null while ChunkResult has no batchSize (a fixed size)
    finalBatchSize: runDetail(f).finalBatchSize,
    overhead: overhead(f, d.hand),
  };
}

function latency(d: BenchData) {
  const l = d.load;
  const busy = (w: Window) => cpuBusyPct(l.cpu, w.startMs, w.endMs);
  const during = (w: Window, f: { rowsPerSec: number }, throttledMs?: number) => ({
    ...summarise(l.samples, [w]),
    machineCpuBusyPct: busy(w),
    backfillRowsPerSec: round(f.rowsPerSec),
    ...(throttledMs === undefined ? {} : { backfillThrottledMs: throttledMs }),
  });
  return {
    none: {
      ...summarise(l.samples, l.baselines),
      machineCpuBusyPct: l.baselines.map(busy),
      windowsP99Ms: l.baselines.map((w) => summarise(l.samples, [w]).p99Ms),
    },
    handLoop: during(l.hand, l.hand),
    ferry: during(l.ferry, l.ferry, overhead(l.ferry, l.hand).throttledMs),
    budget: during(l.budget, l.budget, overhead(l.budget, l.hand).throttledMs),
    /** p50/p99 during each method ÷ the same during its own interleaved baselines (before and after it). */
    ratios: {
      handLoop: { ...ratiosOf(l.samples, l.hand, l.interleaved.hand), roundsP99: l.rounds.handLoop },
      ferry: { ...ratiosOf(l.samples, l.ferry, l.interleaved.ferry), roundsP99: l.rounds.ferry },
      budget: { ...ratiosOf(l.samples, l.budget, l.interleaved.budget), roundsP99: l.rounds.budget },
    },
  };
}

/**
 * p50 and p99 during `w` as ratios to the same in the quieter of `baselines`, its windows before
 * and after (`quieterWindow`), with the baseline's own figures; `baselineNoisy` when the windows'
 * p99s differ by more than 2×.
 */
function ratiosOf(samples: LoadSample[], w: Window, baselines: Window[]) {
  const { baseline: base, p50, p99 } = ratiosToQuieter(samples, w, baselines);
  const windowsP99 = baselines.map((b) => summarise(samples, [b]).p99Ms);
  return {
    p50,
    p99,
    baselineP50Ms: base.p50Ms,
    baselineP99Ms: base.p99Ms,
    baselineWindowsP99Ms: windowsP99,
    baselineNoisy: Math.max(...windowsP99) > 2 * base.p99Ms,
  };
}

/** (d) in the figures `--json` names: rows/s under the load, p99 ratio, the budget's ratio, and its throttling. */
function latencyBudget(d: BenchData, app: ReturnType<typeof latency>) {
  const b = d.load.budget;
  return {
    rowsPerSec: round(b.rowsPerSec),
    p99Ratio: app.ratios.budget.p99,
    p50Ratio: app.ratios.budget.p50,
    budgetRatio: d.load.budgetRatio,
    vsHandLoopUnderLoad: round(b.rowsPerSec / d.load.hand.rowsPerSec, 3),
    throttledMs: overhead(b, d.load.hand).throttledMs,
    throttleReasons: overhead(b, d.load.hand).throttleReasons,
  };
}

/** Whether some point of ferry's engine is as fast as the hand loop's point and as gentle (at or above it). */
function frontierMet(points: SweepPoint[]): boolean | null {
  const hand = points.find((p) => p.label === 'hand loop');
  if (hand === undefined) return null;
  return points.some((p) => p !== hand && p.rowsPerSec >= hand.rowsPerSec && p.p99Ratio <= hand.p99Ratio);
}

/** The targets of the issues "Fast and gentle backfills" and "Gentle by measurement", against this run. */
function targets(s: Figures) {
  const t = (name: string, goal: string, actual: string, met: boolean | null) => ({ name, goal, actual, met });
  const app = s.appLatency;
  const r = app.ratios;
  const lb = s.latencyBudget;
  const rounds = (x: { roundsP99: number[] }) => (x.roundsP99.length > 1 ? ` (rounds ×${x.roundsP99.join(' ×')})` : '');
  const within = Math.abs(s.ferry.batchMsMedian - s.ferry.batchMsTarget) <= 0.25 * s.ferry.batchMsTarget;
  return [
    t('throughput vs hand loop', 'c/b ≥ 0.95 (concurrency 1, 1M rows)', `${s.ratios.ferryVsHandLoop}`, s.ratios.ferryVsHandLoop >= 0.95),
    t('throughput vs single UPDATE (stretch)', 'c/a ≥ 0.8', `${s.ratios.ferryVsSingleUpdate}`, s.ratios.ferryVsSingleUpdate >= 0.8),
    t(
      '(c) as gentle as (b)',
      'app p99 ratio during (c) ≤ during (b)',
      // Each ratio is to its quieter baseline window: a noisy one is named, and cannot flatter either.
      `×${r.ferry.p99}${rounds(r.ferry)} vs ×${r.handLoop.p99}${rounds(r.handLoop)}${r.ferry.baselineNoisy || r.handLoop.baselineNoisy ? ' (a baseline window was noisy; each ratio is to its quieter one)' : ''}`,
      r.ferry.p99 <= r.handLoop.p99,
    ),
    t(
      '(d) keeps the budget',
      'app p99 ≤ 1.5 × interleaved baseline, ≥ 30% of the hand loop’s rows/s',
      `p99 ×${lb.p99Ratio}${rounds(r.budget)}, ${lb.rowsPerSec} rows/s = ${lb.vsHandLoopUnderLoad} × (b) under load`,
      lb.p99Ratio <= 1.5 && lb.vsHandLoopUnderLoad >= 0.3,
    ),
    t(
      'frontier at or above the hand loop',
      'a ferry point as fast as (b) and as gentle',
      s.frontier.points.map((p) => `${p.label} ${p.rowsPerSec}/×${p.p99Ratio}`).join('; ') || 'not run',
      frontierMet(s.frontier.points),
    ),
    t('median batch duration', `${s.ferry.batchMsTarget} ms ± 25%`, `${s.ferry.batchMsMedian} ms`, within),
    t(
      'history events, 10M rows',
      '≤ 200',
      `${s.ferry.historyEvents} at ${s.rows.toLocaleString('en-US')} rows; ~${s.ferry.historyEventsProjected10M} projected at 10M`,
      s.ferry.historyEventsProjected10M <= 200,
    ),
    t(
      'worker RSS flat as the table grows',
      'flat',
      `peak ${s.ferry.workerPeakRssMb} MiB; during the backfill ${s.ferry.workerRssDuringBackfillMb.start} → ${s.ferry.workerRssDuringBackfillMb.peak} MiB`,
      null,
    ),
  ];
}

/** Every figure of the run. */
function figures(d: BenchData) {
  const ferry = ferrySummary(d);
  const app = latency(d);
  return {
    rows: d.rows,
    command: d.command,
    startedAt: d.startedAt,
    machine: d.machine,
    templateSeconds: round(d.templateSeconds, 1),
    repeat: d.runs.hand.length,
    singleUpdate: {
      rowsPerSec: round(d.single.rowsPerSec),
      seconds: round(d.single.seconds, 2),
      rowsUpdated: d.single.rowsUpdated,
      runsRowsPerSec: d.runs.single,
    },
    handLoop: {
      rowsPerSec: round(d.hand.rowsPerSec),
      seconds: round(d.hand.seconds, 2),
      batches: d.hand.batches,
      batchSize: d.hand.batchSize,
      batchMsMedian: round(d.hand.batchMsMedian, 2),
      batchMsP99: round(d.hand.batchMsP99, 2),
      runsRowsPerSec: d.runs.hand,
    },
    ferry,
    ratios: {
      ferryVsHandLoop: round(d.ferry.rowsPerSec / d.hand.rowsPerSec, 3),
      ferryVsSingleUpdate: round(d.ferry.rowsPerSec / d.single.rowsPerSec, 3),
    },
    appLatency: app,
    latencyBudget: latencyBudget(d, app),
    frontier: d.frontier,
    appLoad: {
      connections: d.load.connections,
      requestsPerSec: d.load.ratePerSecond,
      mix: '3 point reads : 1 single-row update of created_at',
    },
  };
}

type Figures = ReturnType<typeof figures>;

/**
 * The summary `--json` prints: every figure and the targets, no time series.
 * @example buildSummary(data).ratios.ferryVsHandLoop
 */
export function buildSummary(d: BenchData) {
  const summary = figures(d);
  return { ...summary, targets: targets(summary) };
}

export type BenchSummary = ReturnType<typeof buildSummary>;

const COLORS = { single: '#888888', hand: '#d95f02', ferry: '#1f66c6', budget: '#7b3fb5', none: '#2a9d4b', target: '#c0392b' };

function handRate(h: HandLoopResult): Point[] {
  return ratePerSecond(
    h.samples.map((s) => ({ atMs: s.endMs, rows: s.rows })),
    h.startMs,
    h.endMs,
  );
}

/** Ferry's rows/s from the polled checkpoint totals, within its backfill window. */
function ferryRate(f: FerryRun): Point[] {
  return rateBetweenPolls(f.progress, f.startMs, f.endMs);
}

const fmt = (v: number) => v.toLocaleString('en-US', { maximumFractionDigits: 0 });

/** A horizontal reference line over [0, tMax]. */
function level(v: number, tMax: number): Point[] {
  return [
    { t: 0, v },
    { t: tMax, v },
  ];
}

/** The chart's panels: throughput alone, throughput under load, the application's p99 per second. */
export function chartPanels(d: BenchData, s: BenchSummary): Panel[] {
  const l = d.load;
  const idle = { hand: handRate(d.hand), ferry: ferryRate(d.ferry) };
  const loaded = { hand: handRate(l.hand), ferry: ferryRate(l.ferry), budget: ferryRate(l.budget) };
  const [first, second] = l.baselines;
  const shift = (first.endMs - first.startMs) / 1000;
  const p99 = {
    none: [
      ...p99PerSecond(l.samples, first.startMs, first.endMs),
      ...p99PerSecond(l.samples, second.startMs, second.endMs).map((p) => ({ t: p.t + shift, v: p.v })),
    ],
    hand: p99PerSecond(l.samples, l.hand.startMs, l.hand.endMs),
    ferry: p99PerSecond(l.samples, l.ferry.startMs, l.ferry.endMs),
    budget: p99PerSecond(l.samples, l.budget.startMs, l.budget.endMs),
  };
  const tMax = (...series: Point[][]) => Math.max(1, ...series.flat().map((p) => p.t));
  return [
    {
      title: 'Backfill throughput, no application load (rows/s per second since the backfill began)',
      yLabel: 'rows/s',
      series: [
        {
          label: `(a) single UPDATE, average ${fmt(s.singleUpdate.rowsPerSec)}`,
          color: COLORS.single,
          points: level(s.singleUpdate.rowsPerSec, tMax(idle.hand, idle.ferry)),
          dashed: true,
        },
        { label: `(b) hand keyset loop, ${fmt(s.handLoop.rowsPerSec)}`, color: COLORS.hand, points: idle.hand },
        { label: `(c) ferry via Temporal, ${fmt(s.ferry.rowsPerSec)}`, color: COLORS.ferry, points: idle.ferry },
      ],
    },
    {
      title: `Backfill throughput under the application load (${l.ratePerSecond} requests/s, pool of ${l.connections})`,
      yLabel: 'rows/s',
      series: [
        { label: `(b) hand keyset loop, ${fmt(s.appLatency.handLoop.backfillRowsPerSec)}`, color: COLORS.hand, points: loaded.hand },
        { label: `(c) ferry, ${fmt(s.appLatency.ferry.backfillRowsPerSec)}`, color: COLORS.ferry, points: loaded.ferry },
        { label: `(d) ferry, budget ${l.budgetRatio}×, ${fmt(s.latencyBudget.rowsPerSec)}`, color: COLORS.budget, points: loaded.budget },
      ],
    },
    {
      title: 'Application p99 latency per second (ms)',
      yLabel: 'p99 ms',
      series: [
        { label: `no backfill (2 windows), p99 ${s.appLatency.none.p99Ms}`, color: COLORS.none, points: p99.none },
        { label: `during (b), p99 ${s.appLatency.handLoop.p99Ms}`, color: COLORS.hand, points: p99.hand },
        { label: `during (c), p99 ${s.appLatency.ferry.p99Ms}`, color: COLORS.ferry, points: p99.ferry },
        { label: `during (d), p99 ${s.appLatency.budget.p99Ms}`, color: COLORS.budget, points: p99.budget },
        {
          label: '1.5 × p99 without backfill (target)',
          color: COLORS.target,
          points: level(1.5 * s.appLatency.none.p99Ms, tMax(p99.hand, p99.ferry, p99.none)),
          dashed: true,
        },
      ],
    },
  ];
}

/** The time series behind the chart, for the JSON file. */
export function timelines(panels: Panel[]) {
  return panels.map((p) => ({ title: p.title, series: p.series.map((s) => ({ label: s.label, points: s.points })) }));
}

function latencyLine(name: string, l: LatencySummary & { machineCpuBusyPct: number | null | (number | null)[] }): string {
  return (
    `  ${name.padEnd(14)} p50 ${String(l.p50Ms).padStart(7)} ms   p99 ${String(l.p99Ms).padStart(7)} ms   ` +
    `(reads ${l.readP99Ms}, updates ${l.updateP99Ms}; service ${l.serviceP99Ms}; max ${l.maxMs} ms; ` +
    `${l.operations} ops over ${l.seconds} s; CPUs ${[l.machineCpuBusyPct].flat().join('/')}% busy)`
  );
}

/** The human-readable report printed without `--json`. */
export function formatText(s: BenchSummary, files: string[]): string {
  const n = (v: number) => v.toLocaleString('en-US', { maximumFractionDigits: 0 });
  const f = s.ferry;
  const runs = (r: number[]) => (r.length > 1 ? `  [runs: ${r.map(n).join(', ')}]` : '');
  return [
    `ferry bench: ${n(s.rows)} rows, batch size ${f.batchSize}, ${s.machine.cpus} CPUs${s.repeat > 1 ? `, median of ${s.repeat} runs` : ''}`,
    `  (a) single UPDATE       ${n(s.singleUpdate.rowsPerSec).padStart(9)} rows/s  ${s.singleUpdate.seconds} s${runs(s.singleUpdate.runsRowsPerSec)}`,
    `  (b) hand keyset loop    ${n(s.handLoop.rowsPerSec).padStart(9)} rows/s  ${s.handLoop.seconds} s, ${s.handLoop.batches} batches, median ${s.handLoop.batchMsMedian} ms${runs(s.handLoop.runsRowsPerSec)}`,
    `  (c) ferry (Temporal)    ${n(f.rowsPerSec).padStart(9)} rows/s  ${f.seconds} s backfill (${f.endToEndSeconds} s start → awaiting-approval)${runs(f.runsRowsPerSec)}`,
    `  c/b = ${s.ratios.ferryVsHandLoop}   c/a = ${s.ratios.ferryVsSingleUpdate}`,
    `  ferry: ${f.historyEvents} history events (${f.historyRuns} run), worker peak RSS ${f.workerPeakRssMb} MiB, ${f.workerCpuSeconds} CPU s, ` +
      `median batch ${f.batchMsMedian} ms (target ${f.batchMsTarget} ms: ${f.batchMsTargetSource}), ` +
      `batch size ${f.finalBatchSize === null ? `${f.batchSize} fixed` : `${f.finalBatchSize} at the end`}`,
    `  ferry time: ${f.overhead.batchLoopMs} ms in the batch loop (${f.overhead.throttledMs} ms of it throttled` +
      `${f.overhead.throttleReasons.length ? `: ${f.overhead.throttleReasons.join('; ')}` : ''}), ${f.overhead.activityOutsideLoopMs} ms in the activity outside it, ` +
      `${f.overhead.betweenChunksMs} ms between chunks; mean batch ${f.overhead.meanBatchMs} ms vs ${f.overhead.handLoopMeanBatchMs} ms by hand`,
    `application latency (${s.appLoad.requestsPerSec} requests/s on a pool of ${s.appLoad.connections} connections):`,
    latencyLine('no backfill', s.appLatency.none),
    latencyLine('during (b)', s.appLatency.handLoop),
    latencyLine('during (c)', s.appLatency.ferry),
    latencyLine('during (d)', s.appLatency.budget),
    `  ratios to each method's interleaved baselines: (b) p50 ×${s.appLatency.ratios.handLoop.p50} p99 ×${s.appLatency.ratios.handLoop.p99}; ` +
      `(c) p50 ×${s.appLatency.ratios.ferry.p50} p99 ×${s.appLatency.ratios.ferry.p99}; (d) p50 ×${s.appLatency.ratios.budget.p50} p99 ×${s.appLatency.ratios.budget.p99}` +
      (s.appLatency.ratios.ferry.roundsP99.length > 1
        ? ` (the median of ${s.appLatency.ratios.ferry.roundsP99.length} rounds: (b) ×${s.appLatency.ratios.handLoop.roundsP99.join(' ×')}; ` +
          `(c) ×${s.appLatency.ratios.ferry.roundsP99.join(' ×')}; (d) ×${s.appLatency.ratios.budget.roundsP99.join(' ×')})`
        : ''),
    `  (d) budget ${s.latencyBudget.budgetRatio}× (read and commit probes): ${n(s.latencyBudget.rowsPerSec)} rows/s under load, throttled ${s.latencyBudget.throttledMs} ms` +
      `${s.latencyBudget.throttleReasons.length ? ` (${s.latencyBudget.throttleReasons.join('; ')})` : ''}`,
    `frontier (${n(s.frontier.rows)} rows, engine in-process):`,
    frontierChart(s.frontier.points),
    'targets:',
    ...s.targets.map((t) => `  ${t.met === null ? '  ?' : t.met ? ' ok' : 'MISS'}  ${t.name}: ${t.actual} (goal ${t.goal})`),
    `files: ${files.join(', ')}`,
  ].join('\n');
}
