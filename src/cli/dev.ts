/**
 * `ferry dev`: brings up a local Temporal dev server and PostgreSQL (or reuses running ones), prints
 * how to point `ferry worker` at them, and keeps them up until Ctrl-C.
 */
import { startStack, type Stack } from '../../devstack/stack';
import { recordDevServer } from '../config';

/** Options of {@link devCommand}; undefined ports fall back to `$FERRY_TEMPORAL_PORT` / `$FERRY_UI_PORT` / defaults. */
export interface DevCommandOptions {
  port?: number;
  uiPort?: number;
}

/** What the user sees once the stack is up. */
function summary(stack: Stack): string {
  const how = (started: boolean) => (started ? 'started by ferry dev; stops when it exits' : 'already running; reused and left alone');
  return [
    '',
    `Temporal    ${stack.temporalAddress}  namespace "${stack.namespace}" (${how(stack.startedTemporal)})`,
    `Web UI      ${stack.uiUrl}`,
    `PostgreSQL  ${stack.databaseUrl} (${how(stack.startedPostgres)})`,
    '',
    'In another terminal, for `ferry worker` and the other ferry commands:',
    `  export TEMPORAL_ADDRESS=${stack.temporalAddress}`,
    `  export TEMPORAL_NAMESPACE=${stack.namespace}`,
    `  export DATABASE_URL=${stack.databaseUrl}`,
    ...(stack.startedTemporal ? [`  export FERRY_UI_URL=${stack.uiUrl}`] : []),
    '',
    'Press Ctrl-C to stop.',
  ].join('\n');
}

/** Ctrl-C, `kill`, and a closed terminal: the dev server runs detached, so each must stop it. */
const STOP_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** Resolves on the first stop signal; a second one exits at once. Keeps the process alive until then. */
function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const keepAlive = setInterval(() => undefined, 1 << 30); // signal listeners alone do not keep Node running
    const onSignal = (signal: NodeJS.Signals) => {
      clearInterval(keepAlive);
      STOP_SIGNALS.forEach((s) => process.removeListener(s, onSignal));
      STOP_SIGNALS.forEach((s) => process.once(s, () => process.exit(1)));
      resolve(signal);
    };
    STOP_SIGNALS.forEach((s) => process.on(s, onSignal));
  });
}

/**
 * Runs the local stack in the foreground. On SIGINT/SIGTERM (or SIGHUP) it stops only what it started.
 *
 * @example
 * // src/cli/main.ts
 * program.command('dev').option('--port <n>', 'Temporal port', Number).action((o) => devCommand(o));
 */
export async function devCommand(opts: DevCommandOptions): Promise<void> {
  const stack = await startStack({
    temporalPort: opts.port,
    uiPort: opts.uiPort,
    log: (line) => console.error(`ferry: ${line}`),
  });
  // Other commands run from this directory link this UI without FERRY_UI_URL (webUiBase in src/config.ts).
  if (stack.startedTemporal) recordDevServer({ address: stack.temporalAddress, uiUrl: stack.uiUrl });
  console.log(summary(stack));
  const signal = await untilSignal();
  console.error(`ferry: ${signal} received, stopping what ferry dev started (Ctrl-C again to exit at once)...`);
  if (stack.startedTemporal) recordDevServer(undefined);
  await stack.stop();
}
