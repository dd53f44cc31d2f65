/**
 * Debian's `chromium` for the Web UI screenshots: found on PATH (or `FERRY_CHROMIUM`), installed
 * with apt-get when missing and the process may (root, apt-get present). puppeteer-core drives it
 * (scenario.ts); no browser is ever downloaded.
 */
import { spawnSync } from 'node:child_process';
import { findOnPath, isExecutable } from '../../devstack/process';

/** `FERRY_CHROMIUM` (when it is an executable), else `chromium` or `chromium-browser` on PATH. */
export function findChromium(): string | undefined {
  const given = process.env.FERRY_CHROMIUM;
  if (given && isExecutable(given)) return given;
  return findOnPath('chromium') ?? findOnPath('chromium-browser');
}

/** Runs `apt-get ...args`, its output to `log`; true when it succeeded. */
function aptGet(args: string[], log: (line: string) => void): boolean {
  log(`apt-get ${args.join(' ')}`);
  const r = spawnSync('apt-get', args, { encoding: 'utf8', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (r.status !== 0) log((r.stderr || r.stdout || '').trim().split('\n').slice(-3).join('\n'));
  return r.status === 0;
}

/**
 * The path of chromium, installing Debian's package when it is missing (`apt-get install -y
 * chromium`, after `apt-get update` when the first try fails); `{ skip }` says why it cannot be
 * had here (not root, no apt-get, the install failed).
 * @example const found = ensureChromium(console.error); if ('skip' in found) console.log(found.skip);
 */
export function ensureChromium(log: (line: string) => void): { path: string } | { skip: string } {
  const found = findChromium();
  if (found) return { path: found };
  if (process.getuid?.() !== 0)
    return { skip: 'chromium is not installed and this is not root; run "apt-get install -y chromium" as root' };
  if (!findOnPath('apt-get')) return { skip: 'chromium is not installed and there is no apt-get; install chromium, or set FERRY_CHROMIUM' };
  const ok = aptGet(['install', '-y', 'chromium'], log) || (aptGet(['update'], log) && aptGet(['install', '-y', 'chromium'], log));
  const now = findChromium();
  return ok && now ? { path: now } : { skip: 'apt-get could not install chromium (see its output above)' };
}
