/**
 * The Temporal server process of devstack/production-temporal.ts: spawned with its config
 * directory, probed over mTLS until it answers, stopped with a signal; and the sweep of servers
 * whose test process died without stopping them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import type { CertPair } from './certificates';
import type { Log } from './go-install';
import { isAlive, stopChild } from './process';
import { CONFIG_ENV } from './temporal-server-config';

const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis));

const START_TIMEOUT_MS = 120_000;
const STOP_GRACE_MS = 15_000;
const PROBE_TIMEOUT_MS = 2_000;
/** The server's certificate is for this name (and 127.0.0.1). */
export const SERVER_NAME = 'localhost';
/** Each server's files live in `<tmp>/ferry-prod-<pid of the test process>-<random>/`. */
export const RUN_DIR_PREFIX = 'ferry-prod-';

/** What a readiness probe connects with. */
export interface Probe {
  address: string;
  caCertPath: string;
  client: CertPair;
  logFile: string;
}

/** `env` without any `TEMPORAL_*` variable (the caller's dev-server address, a profile, an API key). */
export function withoutTemporalEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([key]) => !key.startsWith('TEMPORAL_')));
}

/**
 * The server process, at most one at a time: `start` spawns it and resolves once it answers over
 * mTLS (and knows `namespace`, when given); `stop` signals it and waits for it to exit. A process
 * still running when this one exits is SIGKILLed, so a crashed test leaves no server behind.
 */
export function serverProcess(serverBin: string, dir: string, probe: Probe) {
  let child: ChildProcess | undefined;
  const onExit = () => child?.kill('SIGKILL');
  return {
    start: async (namespace?: string) => {
      if (child) throw new Error(`the Temporal server at ${probe.address} is already running (pid ${child.pid}); stop it first.`);
      child = spawnServer(serverBin, dir, probe.logFile);
      process.once('exit', onExit);
      await waitUntilServing(child, probe, namespace).catch((err) => {
        child = undefined; // waitUntilServing killed it
        process.off('exit', onExit);
        throw err;
      });
    },
    stop: async (signal: NodeJS.Signals = 'SIGTERM') => {
      if (child) await stopChild(child, signal, STOP_GRACE_MS);
      child = undefined;
      process.off('exit', onExit);
    },
  };
}

/** `<server> --root <dir> --config config --env production --allow-no-auth start`, its output appended to `logFile`. */
function spawnServer(server: string, dir: string, logFile: string): ChildProcess {
  const out = fs.openSync(logFile, 'a');
  try {
    const args = ['--root', dir, '--config', 'config', '--env', CONFIG_ENV, '--allow-no-auth', 'start'];
    const child = spawn(server, args, { cwd: dir, env: withoutTemporalEnv(process.env), stdio: ['ignore', out, out] });
    child.on('error', () => undefined); // seen by waitUntilServing as an exit
    return child;
  } finally {
    fs.closeSync(out);
  }
}

/** The last lines of the server log, for error messages. */
function logTail(logFile: string, lines = 40): string {
  try {
    const tail = fs.readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-lines);
    return tail.map((line) => (line.length > 400 ? `${line.slice(0, 400)}...` : line)).join('\n');
  } catch {
    return '(no log)';
  }
}

/** A client connection over mTLS with `client`'s certificate. */
export function connectMtls(address: string, caCertPath: string, client: CertPair, connectTimeout: number = 10_000): Promise<Connection> {
  return Connection.connect({
    address,
    connectTimeout,
    tls: {
      serverNameOverride: SERVER_NAME,
      serverRootCACertificate: fs.readFileSync(caCertPath),
      clientCertPair: { crt: fs.readFileSync(client.certPath), key: fs.readFileSync(client.keyPath) },
    },
  });
}

/** One probe: the frontend answers over mTLS (and knows `namespace`, when given). */
async function answers(p: Probe, namespace?: string): Promise<void> {
  const connection = await connectMtls(p.address, p.caCertPath, p.client, PROBE_TIMEOUT_MS);
  try {
    await connection.withDeadline(Date.now() + PROBE_TIMEOUT_MS, async () => {
      await connection.workflowService.getSystemInfo({});
      if (namespace) await connection.workflowService.describeNamespace({ namespace });
    });
  } finally {
    await connection.close().catch(() => undefined);
  }
}

/** Polls until the frontend answers over mTLS; fails fast if the process exits, or after 120 s. */
async function waitUntilServing(child: ChildProcess, p: Probe, namespace?: string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) {
      throw new Error(
        `the Temporal server at ${p.address} exited (${child.exitCode ?? child.signalCode}). Its log "${p.logFile}" ends with:\n${logTail(p.logFile)}`,
      );
    }
    try {
      return await answers(p, namespace);
    } catch (err) {
      lastError = err;
    }
    await sleep(500);
  }
  await stopChild(child, 'SIGKILL', STOP_GRACE_MS);
  throw new Error(
    `the Temporal server at ${p.address} did not answer over mTLS within ${START_TIMEOUT_MS / 1000} s (last error: ${String(lastError)}). ` +
      `Its log "${p.logFile}" ends with:\n${logTail(p.logFile)}`,
  );
}

/** The pid in a run directory's name (`ferry-prod-<pid>-<random>`), or undefined. */
function ownerPid(runDir: string): number | undefined {
  const pid = Number(new RegExp(`^${RUN_DIR_PREFIX}(\\d+)-`).exec(path.basename(runDir))?.[1]);
  return pid > 0 ? pid : undefined;
}

/**
 * SIGKILLs servers started by a test process that is gone (killed before its cleanup; a server
 * is not detached, but a SIGKILLed parent takes nothing with it) and removes their run
 * directories. Linux only (reads /proc); elsewhere it does nothing.
 */
export function sweepAbandonedServers(log: Log): void {
  if (!fs.existsSync('/proc/self/cmdline')) return;
  const abandoned = (dir: string) => {
    const pid = ownerPid(dir);
    return pid !== undefined && !isAlive(pid);
  };
  for (const entry of fs.readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    let args: string[];
    try {
      args = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
    } catch {
      continue; // exited meanwhile
    }
    const root = args[args.indexOf('--root') + 1];
    if (args.includes('--root') && root?.includes(RUN_DIR_PREFIX) && args.includes(CONFIG_ENV) && abandoned(root)) {
      log(`stopping a Temporal server left by a test process that is gone (pid ${entry}, ${root})`);
      process.kill(Number(entry), 'SIGKILL');
    }
  }
  for (const name of fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith(RUN_DIR_PREFIX))) {
    if (abandoned(name)) fs.rmSync(path.join(os.tmpdir(), name), { recursive: true, force: true });
  }
}
