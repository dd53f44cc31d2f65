import ms from 'ms';
import { FerryError } from './errors';

/** A number written without a unit, e.g. `'5'` or `' 1.5 '`. */
const BARE_NUMBER = /^\s*[-+]?(\d+\.?\d*|\.\d+)\s*$/;

/**
 * Whether `value` is a number with no unit other than zero: `'5'` or `5` could mean 5 ms or 5
 * minutes, so ferry refuses it wherever a duration is read (flags, environment, definitions).
 * `0` / `'0'` means "none" and is allowed.
 * @example hasNoUnit('5') // true; hasNoUnit('5s') // false; hasNoUnit('0') // false
 */
export function hasNoUnit(value: string | number): boolean {
  if (typeof value === 'number') return value !== 0;
  return BARE_NUMBER.test(value) && Number(value) !== 0;
}

/**
 * Parses a duration written with its unit: `'7d'`, `'90s'`, `'1.5h'`, `'500ms'`; `'0'` is zero.
 * A number is taken as milliseconds (ferry's own computed values; definitions refuse numbers
 * other than 0 in their schema). Text without a unit such as `'5'` is refused: is it 5 ms or 5 min?
 * @example parseDuration('7d') // 604800000
 * @throws FerryError BAD_INPUT naming `what` when the text is not a duration.
 */
export function parseDuration(value: string | number, what = 'duration'): number {
  if (typeof value === 'number') {
    if (Number.isFinite(value) && value >= 0) return value;
  } else if (hasNoUnit(value)) {
    throw new FerryError(
      'BAD_INPUT',
      `${what} "${value.trim()}" has no unit; write it like "${value.trim()}s" or "${value.trim()}ms" ("7d", "12h", "30m", "90s", "500ms").`,
    );
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
