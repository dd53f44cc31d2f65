import { SingleBar, Presets } from 'cli-progress';
import { formatDuration } from '../contract/duration';
import { getProgress } from '../client/control';
import { untilError } from '../client/list';
import type { FerryClient } from '../client/connect';
import { FerryError } from '../contract/errors';
import { hasFailed, isFinal, untilOutcome, type PhaseTarget } from '../contract/phases';
import type { Progress } from '../contract/progress';

/** The fields of one watch line: phase, rate, ETA and what the migration waits for. */
function fieldsOf(p: Progress) {
  return {
    phase: p.phase.padEnd(17),
    rate: p.rowsPerSecond,
    eta_h: p.etaSeconds ? formatDuration(p.etaSeconds * 1000) : '-',
    note: p.paused ? `PAUSED ${p.pauseReason ?? ''}` : (p.waitingFor ?? ''),
  };
}

/**
 * One line of `ferry status --watch` without a terminal (a CI log).
 * @example watchLine('posts-uuid', progress) // 'posts-uuid backfilling  40.0% 4000/10000 rows 900 rows/s ETA 7s'
 */
export function watchLine(name: string, p: Progress): string {
  const f = fieldsOf(p);
  const total = Math.max(p.rowsEstimated, p.rowsDone, 1);
  return `${name} ${f.phase} ${p.percent.toFixed(1)}% ${p.rowsDone}/${total} rows ${f.rate} rows/s ETA ${f.eta_h} ${f.note}`.trimEnd();
}

/**
 * `ferry status --watch [--until <phase>]`: a live progress bar (on a terminal; elsewhere a line
 * each time the line changes, and always the last one), redrawn every second until the migration
 * ends or reaches `until`. Exits like CI needs it to: with `until`, 0 only when the phase is
 * reached, 1 when the migration failed, 3 when it was aborted, cancelled or terminated; without
 * it, 1 when the migration failed.
 */
export async function watchStatus(fc: FerryClient, name: string, until?: PhaseTarget, intervalMs = 1000): Promise<void> {
  const bar = new SingleBar(
    { format: `${name} {phase} |{bar}| {percentage}% {value}/{total} rows {rate} rows/s ETA {eta_h} {note}`, hideCursor: true },
    Presets.shades_classic,
  );
  let started = false;
  let printed: string | undefined;
  const tty = process.stdout.isTTY === true;
  let p: Awaited<ReturnType<typeof getProgress>>;
  for (;;) {
    p = await getProgress(fc, name);
    if (!tty) {
      const line = watchLine(name, p);
      if (line !== printed) console.log(line);
      printed = line;
    } else {
      const total = Math.max(p.rowsEstimated, p.rowsDone, 1);
      if (!started) bar.start(total, p.rowsDone, fieldsOf(p));
      started = true;
      bar.setTotal(total);
      bar.update(p.phase === 'completed' ? total : p.rowsDone, fieldsOf(p));
    }
    const outcome = until === undefined ? undefined : untilOutcome(p.phase, p.status, until);
    if (outcome !== undefined ? outcome !== 'waiting' : isFinal(p.phase) || p.status !== 'RUNNING') break;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  bar.stop();
  if (until !== undefined) {
    const outcome = untilOutcome(p.phase, p.status, until);
    if (outcome === 'failed' || outcome === 'stopped') throw untilError(name, p.phase, p.status, until, outcome);
  } else if (hasFailed(p.phase, p.status)) {
    throw new FerryError('FAILED', `migration "${name}" failed${p.lastError ? `: ${p.lastError}` : ''}; see "ferry status ${name}".`);
  }
}
