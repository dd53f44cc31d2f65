import ms from 'ms';
import { FerryError } from './errors';

/**
 * Parses a duration such as `'7d'`, `'90s'`, `'1.5h'` or a number of milliseconds.
 * @example parseDuration('7d') // 604800000
 * @throws FerryError BAD_INPUT naming `what` when the text is not a duration.
 */
export function parseDuration(value: string | number, what = 'duration'): number {
  if (typeof value === 'number') {
    if (Number.isFinite(value) && value >= 0) return value;
  } else {
    const parsed = ms(value.trim() as ms.StringValue);
    if (typeof parsed === 'number' && Number.isFinite(parsed) && parsed >= 0) return parsed;
  }
  throw new FerryError('BAD_INPUT', `${what} "${value}" is not a duration; write it like "7d", "12h", "30m", "90s" or "500ms".`);
}

/** Formats milliseconds for people: `formatDuration(93784000) === '1d 2h 3m'`. */
export function formatDuration(msValue: number): string {
  if (!Number.isFinite(msValue)) return 'unknown';
  if (msValue < 1000) return `${Math.round(msValue)}ms`;
  const parts: string[] = [];
  let s = Math.round(msValue / 1000);
  for (const [unit, size] of [
    ['d', 86400],
    ['h', 3600],
    ['m', 60],
    ['s', 1],
  ] as const) {
    if (s >= size) {
      parts.push(`${Math.floor(s / size)}${unit}`);
      s %= size;
    }
  }
  return parts.slice(0, 3).join(' ');
}
