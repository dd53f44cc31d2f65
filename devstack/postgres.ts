/**
 * Finds a PostgreSQL to use: `DATABASE_URL`, the server on 127.0.0.1:5432, or a private cluster
 * that ferry initialises under its state directory and starts on a free port.
 */
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { isAlive, isExecutable } from './process';

type Log = (line: string) => void;
const defaultLog: Log = (line) => console.error(`ferry: ${line}`);
const run = promisify(execFile);

const DEFAULT_URL = 'postgres://postgres@127.0.0.1:5432/postgres';
const CONNECT_TIMEOUT_MS = 2000;
const SOCKET_DIR_MAX = 90; // sun_path holds 104–108 bytes, including "/.s.PGSQL.NNNNN"

/** Options of {@link ensurePostgres}. */
export interface PostgresOptions {
  /** ferry's state directory; a private cluster lives in `<stateDir>/pg`. */
  stateDir: string;
  log?: Log;
  /** Ignore `DATABASE_URL` and port 5432 and always use the private cluster (tests). */
  forcePrivate?: boolean;
}

/** A PostgreSQL server ferry can use. `stop()` stops it only if this call started it. */
export interface Postgres {
  /** Admin URL (superuser `postgres`, database `postgres`). */
  url: string;
  started: boolean;
  stop(): Promise<void>;
}

/**
 * Returns a reachable PostgreSQL: `$DATABASE_URL` if set, else the server on 127.0.0.1:5432 if it
 * answers, else a private trust-auth cluster under `<stateDir>/pg` (initialised once, then reused)
 * started with `pg_ctl` on a free port bound to 127.0.0.1.
 *
 * @throws if `DATABASE_URL` does not answer, or no PostgreSQL binaries are installed.
 * @example
 * const db = await ensurePostgres({ stateDir: '.ferry' });
 * const pool = new pg.Pool({ connectionString: db.url });
 * // ...
 * await pool.end();
 * await db.stop();
 */
export async function ensurePostgres(opts: PostgresOptions): Promise<Postgres> {
  const log = opts.log ?? defaultLog;
  const existing = opts.forcePrivate ? undefined : await existingServer(log);
  if (existing) return { url: existing, started: false, stop: async () => undefined };
  return privateCluster(path.resolve(opts.stateDir), log);
}

/** The connection error for `url`, or undefined if a query works. */
async function connectError(url: string): Promise<Error | undefined> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return undefined;
  } catch (err) {
    return err as Error;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** `url` with any password replaced by `***`, for messages. */
function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparseable URL)';
  }
}

/** `$DATABASE_URL` (which must answer) or the default local server, if it answers. */
async function existingServer(log: Log): Promise<string | undefined> {
  const fromEnv = process.env.DATABASE_URL;
  if (fromEnv) {
    const err = await connectError(fromEnv);
    if (err) {
      throw new Error(
        `DATABASE_URL "${redact(fromEnv)}" does not accept connections (${err.message}). ` +
          `Start that server or fix the URL, or unset DATABASE_URL to let ferry use or start a local PostgreSQL.`,
      );
    }
    log(`using DATABASE_URL ${redact(fromEnv)}`);
    return fromEnv;
  }
  if (await connectError(DEFAULT_URL)) return undefined;
  log(`reusing the PostgreSQL server at ${DEFAULT_URL}`);
  return DEFAULT_URL;
}

/** Starts (or finds running) the private cluster in `<stateDir>/pg`. */
async function privateCluster(stateDir: string, log: Log): Promise<Postgres> {
  const ctx = { bin: findPgBinDir(), dataDir: path.join(stateDir, 'pg'), runAs: osUserForPostgres(), log };
  if (fs.existsSync(path.join(ctx.dataDir, 'PG_VERSION'))) {
    log(`reusing the initialised PostgreSQL cluster in ${ctx.dataDir}`);
  } else {
    await initCluster(stateDir, ctx);
  }
  const running = runningPort(ctx.dataDir);
  if (running && !(await connectError(clusterUrl(running)))) {
    log(`reusing the private PostgreSQL cluster already running on port ${running}`);
    return { url: clusterUrl(running), started: false, stop: async () => undefined };
  }
  const port = await freePort();
  const logFile = path.join(ctx.dataDir, 'server.log');
  log(`starting a private PostgreSQL cluster on 127.0.0.1:${port} (log ${logFile})`);
  await pgTool(ctx, 'pg_ctl', ['-D', ctx.dataDir, '-l', logFile, '-w', '-t', '60', '-o', `-p ${port}`, 'start']);
  const stop = () => pgTool(ctx, 'pg_ctl', ['-D', ctx.dataDir, '-m', 'fast', '-w', 'stop']).then(() => undefined);
  return { url: clusterUrl(port), started: true, stop };
}

interface ClusterContext {
  bin: string;
  dataDir: string;
  /** OS user to run PostgreSQL tools as (when we are root), else undefined. */
  runAs: string | undefined;
  log: Log;
}

const clusterUrl = (port: number) => `postgres://postgres@127.0.0.1:${port}/postgres`;

/** `/usr/lib/postgresql/<major>/bin` dirs, newest major first (Debian/Ubuntu layout). */
function debianBinDirs(): string[] {
  const root = '/usr/lib/postgresql';
  const majors = fs.existsSync(root) ? fs.readdirSync(root) : [];
  return majors.sort((a, b) => Number(b) - Number(a)).map((major) => path.join(root, major, 'bin'));
}

/** The first of `pg_config --bindir`, Debian dirs, /usr/local/pgsql/bin and PATH that has initdb and pg_ctl. */
function findPgBinDir(): string {
  let fromPgConfig: string[] = [];
  try {
    const out = execFileSync('pg_config', ['--bindir'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    fromPgConfig = [out.trim()];
  } catch {
    // no pg_config on PATH
  }
  const pathDirs = (process.env.PATH ?? '').split(path.delimiter).filter(Boolean);
  const candidates = [...fromPgConfig, ...debianBinDirs(), '/usr/local/pgsql/bin', ...pathDirs];
  const found = candidates.find((dir) => ['initdb', 'pg_ctl'].every((tool) => isExecutable(path.join(dir, tool))));
  if (found) return found;
  throw new Error(
    `no PostgreSQL server binaries found ("initdb" and "pg_ctl" are not in pg_config --bindir, ` +
      `/usr/lib/postgresql/*/bin, /usr/local/pgsql/bin or PATH). Install PostgreSQL ` +
      `(\`apt-get install postgresql\` or \`brew install postgresql\`), or set DATABASE_URL to a server you have.`,
  );
}

/** initdb refuses to run as root: as root, use the `postgres` OS user. */
function osUserForPostgres(): string | undefined {
  if (process.getuid?.() !== 0) return undefined;
  try {
    execFileSync('id', ['-u', 'postgres'], { stdio: 'ignore' });
    return 'postgres';
  } catch {
    throw new Error(
      `cannot initialise a PostgreSQL cluster as root and there is no "postgres" OS user. ` +
        `Create one (\`useradd --system postgres\`), run ferry as a normal user, or set DATABASE_URL.`,
    );
  }
}

/** Runs a PostgreSQL tool from the bin dir, as `ctx.runAs` if set; errors carry its output. */
async function pgTool(ctx: ClusterContext, tool: string, args: string[]): Promise<string> {
  const exe = path.join(ctx.bin, tool);
  const [cmd, argv] = ctx.runAs ? ['runuser', ['-u', ctx.runAs, '--', exe, ...args]] : [exe, args];
  try {
    const { stdout } = await run(cmd, argv, { encoding: 'utf8' });
    return stdout;
  } catch (err) {
    const e = err as Error & { stdout?: string; stderr?: string };
    throw new Error(`"${tool} ${args.join(' ')}" failed: ${e.message}\n${e.stderr ?? ''}${e.stdout ?? ''}`);
  }
}

/**
 * Runs initdb into a temp dir, then renames it to `<stateDir>/pg`, so a killed initdb never leaves a
 * half-initialised cluster behind. Configures TCP on 127.0.0.1 only and the socket dir inside it.
 */
async function initCluster(stateDir: string, ctx: ClusterContext): Promise<void> {
  const tmp = path.join(stateDir, 'pg.initdb');
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true, mode: 0o700 });
  if (ctx.runAs) grantToOsUser(stateDir, tmp, ctx.runAs);
  ctx.log(`initialising a private PostgreSQL cluster in ${ctx.dataDir}`);
  await pgTool(ctx, 'initdb', ['-D', tmp, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-locale']);
  fs.renameSync(tmp, ctx.dataDir);
  const socketDir = ctx.dataDir.length <= SOCKET_DIR_MAX ? ctx.dataDir : ''; // '' = TCP only
  const quote = (value: string) => `'${value.replace(/'/g, "''")}'`;
  fs.appendFileSync(
    path.join(ctx.dataDir, 'postgresql.conf'),
    `\n# added by ferry\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ${quote(socketDir)}\n`,
  );
}

/** Hands `dir` to `user` and lets it traverse `stateDir`; errors if it still cannot reach `dir`. */
function grantToOsUser(stateDir: string, dir: string, user: string): void {
  execFileSync('chown', [`${user}:`, dir]);
  fs.chmodSync(stateDir, fs.statSync(stateDir).mode | 0o001);
  try {
    execFileSync('runuser', ['-u', user, '--', 'test', '-w', dir], { stdio: 'ignore' });
  } catch {
    throw new Error(
      `the "${user}" OS user cannot reach "${dir}" (a parent directory is private). ` +
        `Set FERRY_STATE_DIR to a directory it can reach (e.g. under /tmp), or set DATABASE_URL.`,
    );
  }
}

/** Port of the postmaster recorded in `postmaster.pid`, if that process is alive. */
function runningPort(dataDir: string): number | undefined {
  let lines: string[];
  try {
    lines = fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n');
  } catch {
    return undefined;
  }
  const pid = Number(lines[0]);
  return pid > 0 && isAlive(pid) ? Number(lines[3]) : undefined;
}

/** A TCP port on 127.0.0.1 that is free right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer().once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
