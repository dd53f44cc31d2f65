import { SingleBar, Presets } from 'cli-progress';
import { formatDuration } from '../contract/duration';
import { getProgress } from '../client/control';
import type { FerryClient } from '../client/connect';
import { hasReached, isFinal, type PhaseTarget } from '../contract/phases';

/**
 * `ferry status --watch [--until <phase>]`: a live progress bar, redrawn every second until the
 * migration ends or reaches `until`.
 */
export async function watchStatus(fc: FerryClient, name: string, until?: PhaseTarget, intervalMs = 1000): Promise<void> {
  const bar = new SingleBar(
    { format: `${name} {phase} |{bar}| {percentage}% {value}/{total} rows {rate} rows/s ETA {eta_h} {note}`, hideCursor: true },
    Presets.shades_classic,
  );
  let started = false;
  const tty = process.stdout.isTTY === true;
  for (let tick = 0; ; tick++) {
    const p = await getProgress(fc, name);
    const fields = {
      phase: p.phase.padEnd(17),
      rate: p.rowsPerSecond,
      eta_h: p.etaSeconds ? formatDuration(p.etaSeconds * 1000) : '-',
      note: p.paused ? `PAUSED ${p.pauseReason ?? ''}` : (p.waitingFor ?? ''),
    };
    const total = Math.max(p.rowsEstimated, p.rowsDone, 1);
    if (!tty) {
      if (tick % 2 === 0)
        console.log(
          `${name} ${fields.phase} ${p.percent.toFixed(1)}% ${p.rowsDone}/${total} rows ${fields.rate} rows/s ETA ${fields.eta_h} ${fields.note}`,
        );
    } else {
      if (!started) bar.start(total, p.rowsDone, fields);
      started = true;
      bar.setTotal(total);
      bar.update(p.phase === 'completed' ? total : p.rowsDone, fields);
    }
    if (isFinal(p.phase) || p.status !== 'RUNNING' || (until !== undefined && hasReached(p.phase, until))) break;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  bar.stop();
}
