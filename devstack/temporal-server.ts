/**
 * Finds (or builds with Go) the real Temporal server and its SQL tool, the release teams run in
 * production, for the production-shaped test tier (devstack/production-temporal.ts).
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { builtPaths, defaultLog, ferryCacheDir, findGo, goInstall, type GoBuild, type Log } from './go-install';
import { isExecutable } from './process';

const run = promisify(execFile);

/** The server release ferry builds and tests against. */
export const TEMPORAL_SERVER_VERSION = '1.29.1';
const SERVER_MODULE = 'go.temporal.io/server';

/** The binaries and the module source (config templates, SQL schema) of one server release. */
export interface TemporalServerBuild {
  /** `temporal-server` (built as `server`). */
  server: string;
  /** `temporal-sql-tool` (built as `sql`). */
  sqlTool: string;
  /** The module's source in Go's module cache: `config/development-postgres12.yaml`, `schema/postgresql/v12/`. */
  moduleDir: string;
  version: string;
}

/** What ferry builds, into `<$XDG_CACHE_HOME or ~/.cache>/ferry/temporal-server-<version>/`. */
export function temporalServerBuild(): GoBuild {
  const at = `@v${TEMPORAL_SERVER_VERSION}`;
  return {
    what: `the Temporal server v${TEMPORAL_SERVER_VERSION} and its SQL tool`,
    packages: [`${SERVER_MODULE}/cmd/server${at}`, `${SERVER_MODULE}/cmd/tools/sql${at}`],
    dir: ferryCacheDir(`temporal-server-${TEMPORAL_SERVER_VERSION}`),
    binaries: ['server', 'sql'],
    otherwise: `run that "go install" yourself with GOBIN set to "${ferryCacheDir(`temporal-server-${TEMPORAL_SERVER_VERSION}`)}"`,
  };
}

/** The error for a machine without Go: the server is only ever built from source here. */
export class GoMissingError extends Error {
  constructor() {
    super(
      `Go is not installed (no "go" on PATH or in /usr/local/go/bin), and ferry builds the Temporal server ` +
        `v${TEMPORAL_SERVER_VERSION} from source for its production-shaped tests. Install Go 1.24 or later ` +
        `(https://go.dev/dl/) and run the tests again; the first build takes several minutes.`,
    );
    this.name = 'GoMissingError';
  }
}

/**
 * Returns the server and SQL tool from ferry's cache, building both with `go install` on the first
 * call on a machine (minutes; progress to `opts.log`, parallel callers wait for one build), and
 * the module's source directory from Go's module cache.
 *
 * @throws GoMissingError without Go; an Error when the build fails.
 * @example
 * const { server, sqlTool, moduleDir } = await findTemporalServer({ log: console.error });
 */
export async function findTemporalServer(opts: { log?: Log } = {}): Promise<TemporalServerBuild> {
  const go = findGo();
  if (!go) throw new GoMissingError();
  const build = temporalServerBuild();
  const cached = builtPaths(build);
  const [server, sqlTool] = cached.every(isExecutable) ? cached : await goInstall(go, build, opts.log ?? defaultLog);
  return { server, sqlTool, moduleDir: await moduleDir(go), version: TEMPORAL_SERVER_VERSION };
}

/** `go mod download -json <module>@<version>`'s `Dir` (no download when `go install` already fetched it). */
async function moduleDir(go: string): Promise<string> {
  const spec = `${SERVER_MODULE}@v${TEMPORAL_SERVER_VERSION}`;
  try {
    const { stdout } = await run(go, ['mod', 'download', '-json', spec], { cwd: path.parse(process.cwd()).root, encoding: 'utf8' });
    const dir = (JSON.parse(stdout) as { Dir?: string }).Dir;
    if (dir) return dir;
    throw new Error(`no "Dir" in its output: ${stdout.slice(0, 500)}`);
  } catch (err) {
    throw new Error(`"go mod download -json ${spec}" failed: ${(err as Error).message}. Check Go's proxy settings (GOPROXY).`);
  }
}
