/**
 * The frontier as a text chart: throughput (rows/s) against the application's p99 ratio to the
 * interleaved baseline, one mark per point of the budget sweep, for the text report and
 * docs/benchmarks.md (a plain-text chart diffs and reviews like the figures around it).
 */
import { NO_BACKFILL, type SweepPoint } from './engine-sweep';

const WIDTH = 56;
const HEIGHT = 14;

/** The mark of a point: H for the hand loop, F for ferry without a budget, A for the A/A control, 1.. for the budgets in order. */
function marks(points: SweepPoint[]): string[] {
  let budget = 0;
  const named: Record<string, string> = { 'hand loop': 'H', 'no budget': 'F', [NO_BACKFILL]: 'A' };
  return points.map((p) => named[p.label] ?? String(++budget));
}

/**
 * The chart and its legend, e.g.
 * ```
 * rows/s
 *  30,000 |        H
 *         |   F
 * ```
 */
export function frontierChart(points: SweepPoint[]): string {
  if (points.length === 0) return '(no frontier: the sweep did not run)';
  const m = marks(points);
  const xMax = Math.max(1.5, ...points.map((p) => p.p99Ratio)) * 1.05;
  const yMax = Math.max(1, ...points.map((p) => p.rowsPerSec)) * 1.05;
  const grid = Array.from({ length: HEIGHT }, () => Array.from({ length: WIDTH }, () => ' '));
  const col = (x: number) => Math.min(WIDTH - 1, Math.max(0, Math.round((x / xMax) * (WIDTH - 1))));
  for (let r = 0; r < HEIGHT; r++) grid[r][col(1)] = ':'; // the baseline itself (ratio 1)
  for (let r = 0; r < HEIGHT; r++) if (grid[r][col(1.5)] === ' ') grid[r][col(1.5)] = '.'; // 1.5 × the baseline
  points.forEach((p, i) => {
    const row = HEIGHT - 1 - Math.min(HEIGHT - 1, Math.round((p.rowsPerSec / yMax) * (HEIGHT - 1)));
    grid[row][col(p.p99Ratio)] = m[i];
  });
  const label = (r: number) => (r === 0 ? Math.round(yMax).toLocaleString('en-US') : r === HEIGHT - 1 ? '0' : '');
  const lines = grid.map((cells, r) => `${label(r).padStart(8)} |${cells.join('')}`);
  const axis = `${' '.repeat(8)} +${'-'.repeat(WIDTH)}`;
  const ticks = `${' '.repeat(9)}0${' '.repeat(col(1) - 1)}1${' '.repeat(Math.max(0, col(1.5) - col(1) - 1))}1.5${' '.repeat(Math.max(1, WIDTH - col(1.5) - 10))}${xMax.toFixed(1)}`;
  const legend = points.map(
    (p, i) =>
      `  ${m[i]}  ${p.label.padEnd(17)} ${p.rowsPerSec.toLocaleString('en-US').padStart(8)} rows/s  p50 ×${p.p50Ratio}  p99 ×${p.p99Ratio}` +
      (p.rounds ? `  (rounds ×${p.rounds.p99Ratio.join(' ×')})` : ''),
  );
  return ['rows/s', ...lines, axis, ticks, `${' '.repeat(10)}app p99 ÷ interleaved baseline p99 (":" = 1, "." = 1.5)`, ...legend].join(
    '\n',
  );
}
