/**
 * The bench's chart as a hand-written SVG: panels stacked vertically, each with its own y axis,
 * seconds since its phase began on the x axis, one polyline per series.
 */
import type { Point } from './stats';

/** A line on a panel. `dashed` lines are references (an average, a target). */
export interface Series {
  label: string;
  color: string;
  points: Point[];
  dashed?: boolean;
}

/** One panel of the chart. */
export interface Panel {
  title: string;
  yLabel: string;
  series: Series[];
}

const WIDTH = 960;
const PANEL_HEIGHT = 230;
const MARGIN = { left: 70, right: 20, top: 34, bottom: 34 };
const FONT = 'font-family="system-ui, -apple-system, Segoe UI, sans-serif"';

/** Escapes text for SVG. */
function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** The smallest 1, 2 or 5 × 10^k at or above `v` (1 for nothing to show). */
export function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 5, 10].map((m) => m * power).find((c) => c >= v) ?? 10 * power;
}

/** `12k`, `1.5M`, `0.25`: short tick labels. */
function tickLabel(v: number): string {
  if (v >= 1e6) return `${+(v / 1e6).toFixed(1)}M`;
  if (v >= 1e3) return `${+(v / 1e3).toFixed(1)}k`;
  return `${+v.toFixed(2)}`;
}

interface Frame {
  x0: number;
  y0: number;
  w: number;
  h: number;
  xMax: number;
  yMax: number;
}

const sx = (f: Frame, t: number) => f.x0 + (t / f.xMax) * f.w;
const sy = (f: Frame, v: number) => f.y0 + f.h - (Math.min(v, f.yMax) / f.yMax) * f.h;

function axes(f: Frame, yLabel: string): string {
  const parts: string[] = [];
  for (let i = 0; i <= 4; i++) {
    const v = (f.yMax * i) / 4;
    const y = sy(f, v);
    parts.push(`<line x1="${f.x0}" x2="${f.x0 + f.w}" y1="${y}" y2="${y}" stroke="#e4e4e4"/>`);
    parts.push(`<text x="${f.x0 - 6}" y="${y + 4}" text-anchor="end" font-size="11" fill="#555">${tickLabel(v)}</text>`);
  }
  const step = niceMax(f.xMax / 8);
  for (let t = 0; t <= f.xMax + 1e-9; t += step) {
    const x = sx(f, t);
    parts.push(`<text x="${x}" y="${f.y0 + f.h + 16}" text-anchor="middle" font-size="11" fill="#555">${tickLabel(t)}s</text>`);
  }
  parts.push(`<rect x="${f.x0}" y="${f.y0}" width="${f.w}" height="${f.h}" fill="none" stroke="#999"/>`);
  const cy = f.y0 + f.h / 2;
  parts.push(
    `<text transform="translate(${f.x0 - 52} ${cy}) rotate(-90)" text-anchor="middle" font-size="11" fill="#333">${esc(yLabel)}</text>`,
  );
  return parts.join('\n');
}

function line(f: Frame, s: Series): string {
  if (s.points.length === 0) return '';
  const d = s.points.map((p, i) => `${i === 0 ? 'M' : 'L'}${sx(f, p.t).toFixed(1)},${sy(f, p.v).toFixed(1)}`).join(' ');
  const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
  const path = `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="${s.dashed ? 1.5 : 2}"${dash}/>`;
  if (s.dashed || s.points.length >= 30) return path;
  // a short run has few 1-second buckets (one is no line at all): mark each
  const dots = s.points.map((p) => `<circle cx="${sx(f, p.t).toFixed(1)}" cy="${sy(f, p.v).toFixed(1)}" r="3" fill="${s.color}"/>`);
  return [path, ...dots].join('\n');
}

function legend(f: Frame, series: Series[]): string {
  let x = f.x0 + 8;
  return series
    .map((s) => {
      const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
      const item =
        `<line x1="${x}" x2="${x + 22}" y1="${f.y0 + 12}" y2="${f.y0 + 12}" stroke="${s.color}" stroke-width="2"${dash}/>` +
        `<text x="${x + 27}" y="${f.y0 + 16}" font-size="11" fill="#222">${esc(s.label)}</text>`;
      x += 40 + s.label.length * 6;
      return item;
    })
    .join('\n');
}

function panelSvg(panel: Panel, top: number): string {
  const all = panel.series.flatMap((s) => s.points);
  const f: Frame = {
    x0: MARGIN.left,
    y0: top + MARGIN.top,
    w: WIDTH - MARGIN.left - MARGIN.right,
    h: PANEL_HEIGHT - MARGIN.top - MARGIN.bottom,
    xMax: niceMax(Math.max(1, ...all.map((p) => p.t))),
    yMax: niceMax(Math.max(0, ...all.map((p) => p.v)) * 1.1),
  };
  const title = `<text x="${f.x0}" y="${top + 20}" font-size="13" font-weight="600" fill="#111">${esc(panel.title)}</text>`;
  return [title, axes(f, panel.yLabel), ...panel.series.map((s) => line(f, s)), legend(f, panel.series)].join('\n');
}

/**
 * The whole chart: `heading` lines on top, then the panels.
 * @example renderChart(['ferry bench'], [{ title: 'rows/s', yLabel: 'rows/s', series: [] }])
 */
export function renderChart(heading: string[], panels: Panel[]): string {
  const headHeight = 16 + heading.length * 17;
  const height = headHeight + panels.length * PANEL_HEIGHT;
  const head = heading
    .map(
      (h, i) =>
        `<text x="${MARGIN.left}" y="${22 + i * 17}" font-size="${i === 0 ? 15 : 12}"${i === 0 ? ' font-weight="700"' : ''} fill="#111">${esc(h)}</text>`,
    )
    .join('\n');
  const body = panels.map((p, i) => panelSvg(p, headHeight + i * PANEL_HEIGHT)).join('\n');
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" ${FONT}>\n` +
    `<rect width="100%" height="100%" fill="#fff"/>\n${head}\n${body}\n</svg>\n`
  );
}
