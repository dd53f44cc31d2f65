/**
 * Reuses the Temporal dev server already answering on a port, or starts one with the Temporal CLI
 * (SQLite file, Web UI, ferry's search attributes registered).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { ALL_SEARCH_ATTRIBUTES, CLI_TYPE_NAMES } from '../src/contract/search-attributes';
import { ensureSearchAttributes } from '../src/client/search-attributes';
import { acquireLock, stopChild } from './process';
import { findTemporalCli } from './temporal-cli';

type Log = (line: string) => void;
const defaultLog: Log = (line) => console.error(`ferry: ${line}`);
const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis));

const PROBE_TIMEOUT_MS = 1500;
const START_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 10_000;

/** Options of {@link ensureDevServer}. */
export interface DevServerOptions {
  /** Temporal CLI binary; found (or built) by `findTemporalCli` when omitted and a server must be started. */
  cliPath?: string;
  /** gRPC frontend port. Default 7233. */
  port?: number;
  /** Web UI port. Default 8233. */
  uiPort?: number;
  /** SQLite file the server persists to; its log goes beside it (`<name>.log`). */
  dbFile: string;
  /** Namespace to use. Default `default`. */
  namespace?: string;
  log?: Log;
}

/** A reachable Temporal dev server. `stop()` stops it only if this process started it. */
export interface DevServer {
  address: string;
  uiUrl: string;
  started: boolean;
  stop(): Promise<void>;
}

/**
 * Returns a Temporal frontend on `127.0.0.1:<port>` with ferry's search attributes: the one already
 * answering there (`started: false`, `stop()` does nothing), or a dev server started with
 * `temporal server start-dev` (`started: true`, `stop()` terminates it).
 *
 * @throws if the port is taken by something that is not Temporal, or the server does not become
 *   healthy within 60 s (the error carries the end of its log).
 * @example
 * const server = await ensureDevServer({ dbFile: '.ferry/temporal.db' });
 * console.log(`Temporal at ${server.address}, UI at ${server.uiUrl}`);
 * await server.stop();
 */
export async function ensureDevServer(opts: DevServerOptions): Promise<DevServer> {
  const port = opts.port ?? 7233;
  const uiPort = opts.uiPort ?? 8233;
  const namespace = opts.namespace ?? 'default';
  const log = opts.log ?? defaultLog;
  const address = `127.0.0.1:${port}`;
  const uiUrl = `http://127.0.0.1:${uiPort}`;
  const reused: DevServer = { address, uiUrl, started: false, stop: async () => undefined };
  if (await runningServer(port, namespace)) {
    log(`reusing the Temporal server already running at ${address}`);
    return reused;
  }
  const cliPath = opts.cliPath ?? (await findTemporalCli({ log }));
  // One starter per port on this machine: a test run and the bench starting at once share one server.
  const release = await acquireLock(path.join(os.tmpdir(), `ferry-temporal-${port}.start.lock`), START_TIMEOUT_MS + 10_000, (pid) =>
    log(`waiting for another process (pid ${pid}) that is starting the Temporal dev server...`),
  );
  try {
    if (await runningServer(port, namespace)) {
      log(`reusing the Temporal server another process started at ${address}`);
      return reused;
    }
    const logFile = opts.dbFile.replace(/\.db$/, '') + '.log';
    log(`starting the Temporal dev server at ${address} (UI ${uiUrl}, log ${logFile})`);
    const child = spawnDevServer(cliPath, { ...opts, port, uiPort, namespace }, logFile);
    await waitUntilHealthy(child, port, namespace, logFile);
    return { address, uiUrl, started: true, stop: () => stopChild(child, 'SIGTERM', STOP_GRACE_MS) };
  } finally {
    release();
  }
}

/**
 * Whether a Temporal frontend with ferry's search attributes answers on the port; false when
 * nothing listens there.
 * @throws when something else listens there.
 */
async function runningServer(port: number, namespace: string): Promise<boolean> {
  const address = `127.0.0.1:${port}`;
  if (!(await isPortOpen(port))) return false;
  if (await answersAndHasAttributes(address, namespace)) return true;
  throw new Error(
    `port ${port} is in use, but not by a Temporal frontend (getSystemInfo did not answer on "${address}"). ` +
      `Stop what listens there, or set FERRY_TEMPORAL_PORT to another port.`,
  );
}

/** Connects with a short timeout; `Connection.connect` calls `workflowService.getSystemInfo` to verify. */
async function probe(address: string): Promise<Connection | undefined> {
  const connection = await Connection.connect({ address, connectTimeout: PROBE_TIMEOUT_MS }).catch(() => undefined);
  if (!connection) return undefined;
  try {
    await connection.withDeadline(Date.now() + PROBE_TIMEOUT_MS, () => connection.workflowService.getSystemInfo({}));
    return connection;
  } catch {
    await connection.close().catch(() => undefined);
    return undefined;
  }
}

/** True if a Temporal frontend answers on `address`; then also registers ferry's search attributes there. */
async function answersAndHasAttributes(address: string, namespace: string): Promise<boolean> {
  const connection = await probe(address);
  if (!connection) return false;
  try {
    await ensureSearchAttributes(connection, namespace);
    return true;
  } finally {
    await connection.close();
  }
}

/** True if anything accepts TCP connections on 127.0.0.1:`port`. */
function isPortOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port, timeout: PROBE_TIMEOUT_MS });
    const done = (open: boolean) => {
      socket.destroy();
      resolve(open);
    };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.once('timeout', () => done(false));
  });
}

/** `temporal server start-dev …` with one `--search-attribute` per ferry key. */
function devServerArgs(o: Required<Pick<DevServerOptions, 'port' | 'uiPort' | 'dbFile' | 'namespace'>>): string[] {
  const attributes = ALL_SEARCH_ATTRIBUTES.flatMap((key) => ['--search-attribute', `${key.name}=${CLI_TYPE_NAMES[key.type]}`]);
  return [
    ...['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(o.port), '--ui-port', String(o.uiPort)],
    ...['--db-filename', o.dbFile, '--namespace', o.namespace, '--log-level', 'warn'],
    ...attributes,
  ];
}

/**
 * Spawns the dev server in its own process group with stdout/stderr going straight to `logFile`,
 * so it keeps running if this process exits without calling `stop()` (the next run reuses it).
 */
function spawnDevServer(
  cliPath: string,
  o: Required<Pick<DevServerOptions, 'port' | 'uiPort' | 'dbFile' | 'namespace'>>,
  logFile: string,
): ChildProcess {
  fs.mkdirSync(path.dirname(o.dbFile), { recursive: true });
  const out = fs.openSync(logFile, 'w');
  try {
    const child = spawn(cliPath, devServerArgs(o), { detached: true, stdio: ['ignore', out, out] });
    child.on('error', () => undefined); // reported by waitUntilHealthy through exitCode / the log
    child.unref();
    return child;
  } finally {
    fs.closeSync(out);
  }
}

/** The last lines of the server log, for error messages. */
function logTail(logFile: string, lines = 30): string {
  try {
    return fs.readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Polls until the server answers with the search attributes in place; fails fast if it exits, or after 60 s. */
async function waitUntilHealthy(child: ChildProcess, port: number, namespace: string, logFile: string) {
  const address = `127.0.0.1:${port}`;
  const deadline = Date.now() + START_TIMEOUT_MS;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) {
      const status = child.pid === undefined ? 'could not be spawned' : `exited (${child.exitCode ?? child.signalCode})`;
      throw new Error(`Temporal dev server "${address}" ${status}. Its log "${logFile}" ends with:\n${logTail(logFile)}`);
    }
    try {
      // Probe the TCP port first: a gRPC connect to a closed port only fails at its deadline.
      if ((await isPortOpen(port)) && (await answersAndHasAttributes(address, namespace))) return;
    } catch (err) {
      lastError = err; // e.g. the namespace is not registered yet; retry until the deadline
    }
    await sleep(250);
  }
  await stopChild(child, 'SIGTERM', STOP_GRACE_MS);
  throw new Error(
    `Temporal dev server "${address}" did not become healthy within ${START_TIMEOUT_MS / 1000} s` +
      `${lastError ? ` (last error: ${String(lastError)})` : ''}. Its log "${logFile}" ends with:\n${logTail(logFile)}`,
  );
}
