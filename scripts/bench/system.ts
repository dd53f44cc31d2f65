/**
 * The machine's CPU use over time, from /proc/stat, so that a latency window can say how busy
 * the machine was (the bench's own processes included): on a shared 2-core box, other work shows.
 */
import fs from 'node:fs';

/** Cumulative CPU jiffies at one moment: busy (everything but idle and iowait) and total. */
export interface CpuSample {
  atMs: number;
  busy: number;
  total: number;
}

function readCpu(): CpuSample | undefined {
  try {
    const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]; // "cpu  user nice system idle iowait irq softirq steal ..."
    const v = line.trim().split(/\s+/).slice(1, 9).map(Number);
    const total = v.reduce((a, b) => a + b, 0);
    return { atMs: Date.now(), busy: total - v[3] - v[4], total };
  } catch {
    return undefined; // not Linux: no figure
  }
}

/** Samples /proc/stat every second until `stop()`. */
export function startCpuSampler(): { samples: CpuSample[]; stop(): void } {
  const samples: CpuSample[] = [];
  const take = () => {
    const s = readCpu();
    if (s) samples.push(s);
  };
  take();
  const timer = setInterval(take, 1000);
  return { samples, stop: () => clearInterval(timer) };
}

/** The share of all CPUs busy between `startMs` and `endMs` (nearest samples), in percent; null without samples. */
export function cpuBusyPct(samples: CpuSample[], startMs: number, endMs: number): number | null {
  const from = samples.filter((s) => s.atMs <= startMs).at(-1) ?? samples[0];
  const to = samples.find((s) => s.atMs >= endMs) ?? samples.at(-1);
  if (!from || !to || to.total <= from.total) return null;
  return Math.round((1000 * (to.busy - from.busy)) / (to.total - from.total)) / 10;
}
