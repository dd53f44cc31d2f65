/**
 * Finds the Temporal CLI (which contains the dev server), building it from source with Go as a
 * last resort so `npm test` and `ferry dev` work on a machine that only has Node and Go.
 */
import path from 'node:path';
import { defaultLog, ferryCacheDir, findGo, goInstall, type GoBuild, type Log } from './go-install';
import { EXE, findOnPath, isExecutable } from './process';

/** The CLI release ferry builds when none is installed. */
export const TEMPORAL_CLI_VERSION = '1.5.1';
const CLI_MODULE = `github.com/temporalio/cli/cmd/temporal@v${TEMPORAL_CLI_VERSION}`;

/** Where ferry caches its own build: `<$XDG_CACHE_HOME or ~/.cache>/ferry/temporal-cli-<version>/temporal`. */
export function cachedTemporalCliPath(): string {
  return path.join(ferryCacheDir(`temporal-cli-${TEMPORAL_CLI_VERSION}`), 'temporal' + EXE);
}

/** The error for a machine with neither a Temporal CLI nor Go. */
function notInstalledError(cached: string): Error {
  return new Error(
    `Temporal CLI not found: "temporal" is not on PATH, there is no cached build at "${cached}", and Go ` +
      `is not installed to build one. Install the Temporal CLI (macOS: \`brew install temporal\`; ` +
      `Linux/Windows: download it from https://temporal.io/setup/install-temporal-cli), ` +
      `or set TEMPORAL_CLI to the path of a temporal binary.`,
  );
}

/**
 * Returns the path of a Temporal CLI binary, in this order: `$TEMPORAL_CLI` (which must exist),
 * `temporal` on PATH, ferry's cached build, or a fresh build with `go install` into the cache.
 * The first build takes several minutes; progress goes to `opts.log`.
 *
 * @throws if `$TEMPORAL_CLI` points nowhere, or there is neither a CLI nor Go to build one.
 * @example
 * const cli = await findTemporalCli({ log: console.log });
 * execFileSync(cli, ['--version']);
 */
export async function findTemporalCli(opts: { log?: Log } = {}): Promise<string> {
  const fromEnv = process.env.TEMPORAL_CLI;
  if (fromEnv) {
    if (isExecutable(fromEnv)) return fromEnv;
    throw new Error(
      `TEMPORAL_CLI is set to "${fromEnv}", which is not an executable file. ` +
        `Point it at a temporal binary, or unset it to use "temporal" from PATH.`,
    );
  }
  const cached = cachedTemporalCliPath();
  const found = findOnPath('temporal') ?? (isExecutable(cached) ? cached : undefined);
  if (found) return found;
  const go = findGo();
  if (!go) throw notInstalledError(cached);
  const build: GoBuild = {
    what: `the Temporal CLI v${TEMPORAL_CLI_VERSION}`,
    packages: [CLI_MODULE],
    dir: path.dirname(cached),
    binaries: ['temporal'],
    otherwise: 'install the Temporal CLI yourself and set TEMPORAL_CLI',
  };
  const [cli] = await goInstall(go, build, opts.log ?? defaultLog);
  return cli;
}
