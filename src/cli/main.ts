/**
 * The `ferry` command line. Every command maps errors to exit codes: 0 ok, 1 failed,
 * 2 bad input, 3 conflict; each error names the object and the next step.
 */
import { Command, CommanderError, Option } from 'commander';
import { EXIT, FerryError } from '../contract/errors';
import { parseDuration } from '../contract/duration';
import { defaultActor, workflowId } from '../config';
import { loadMigration } from '../definition/registry';
import { connectClient, type FerryClient } from '../client/connect';
import { startMigration } from '../client/start';
import { control, getAudit, getProgress, signalDeployed } from '../client/control';
import { listMigrations, parseWaitFor, waitForPhase } from '../client/list';
import { missingNotice } from '../client/search-attributes';
import * as msg from '../contract/messages';
import { hasFailed } from '../contract/phases';
import { formatAudit, formatList, formatProgress, webUiLine, webUiUrl } from './output';
import { watchStatus } from './watch';
import { addAbortCommand, explainNotStarted, statusNotes } from './recovery';
import { addFailedRowsCommands } from './failed-rows';

/** Runs `fn` with a connected client, always closing it. */
async function withClient<T>(fn: (fc: FerryClient) => Promise<T>): Promise<T> {
  const fc = await connectClient();
  try {
    return await fn(fc);
  } finally {
    await fc.close();
  }
}

const print = (json: boolean | undefined, value: unknown, text: string) => console.log(json ? JSON.stringify(value, null, 2) : text);

/** The `ferry` command and its subcommands (each group in a function below). */
function buildProgram(): Command {
  const program = new Command('ferry')
    .description('Zero-downtime data migrations for PostgreSQL, each one a durable Temporal workflow.')
    .version((require('../../package.json') as { version: string }).version, '-V, --version', "print ferry's version")
    .showHelpAfterError()
    .exitOverride(); // before the subcommands, which inherit it

  addInitCommand(program);
  addServiceCommands(program);
  addSetupCommand(program);
  addStartCommand(program);
  addPlanningCommands(program);
  addControlCommands(program);
  addInspectCommands(program);
  return program;
}

/** `init`: an application's first step after `npm i ferry` (src/cli/init.ts). */
function addInitCommand(program: Command): void {
  program
    .command('init')
    .description('create the migrations directory with an example migration, and print the next steps')
    .addOption(new Option('--ts', 'write the example in TypeScript (default when ./tsconfig.json exists)').conflicts('js'))
    .option('--js', 'write the example in JavaScript (CommonJS, or ESM when package.json says "type": "module")')
    .action((o) => {
      const init = require('./init') as typeof import('./init');
      console.log(init.nextSteps(init.initCommand({ language: o.ts ? 'ts' : o.js ? 'js' : undefined })));
    });
}

/** `worker`, `doctor` and `dev`: what runs beside the migrations. */
function addServiceCommands(program: Command): void {
  program
    .command('worker')
    .description(
      'run a worker for every migration in FERRY_MIGRATIONS (needs DATABASE_URL, or FERRY_DATA_SOURCE: a TypeORM DataSource file)',
    )
    .option('--data-source <file>', "connect with the application's TypeORM DataSource (default: FERRY_DATA_SOURCE, else DATABASE_URL)")
    .action((o) => (require('../worker') as typeof import('../worker')).runWorker(undefined, { dataSource: o.dataSource })); // loaded lazily: it pulls in the worker SDK

  program
    .command('doctor')
    .description(
      'check what ferry connects to: Temporal (address, namespace, TLS, server version, search attributes) and DATABASE_URL (version, privileges, ferry schema)',
    )
    .option('--json', 'print JSON')
    .action((o) => (require('./doctor') as typeof import('./doctor')).doctorCommand({ json: o.json }));

  program
    .command('dev')
    .description('start a local Temporal dev server and PostgreSQL (reusing running ones) until Ctrl-C')
    .option('--port <port>', 'Temporal port', (v) => Number(v), 7233)
    .option('--ui-port <port>', 'Web UI port', (v) => Number(v), 8233)
    .action((o) => (require('./dev') as typeof import('./dev')).devCommand({ port: o.port, uiPort: o.uiPort }));
}

/** `setup`: a DBA installs or upgrades ferry's schema and grants a worker role (docs/setup.md). */
function addSetupCommand(program: Command): void {
  program
    .command('setup')
    .description(
      "install or upgrade ferry's own schema in DATABASE_URL (run as an owner role); --grant-to gives a worker role what it needs",
    )
    .option('--grant-to <role>', 'grant this worker role the privileges ferry needs (the role must exist)')
    .option('--dry-run', 'print what would be applied and granted; change nothing')
    .option('--json', 'print JSON')
    .action((o) => (require('./setup') as typeof import('./setup')).setupCommand({ grantTo: o.grantTo, dryRun: o.dryRun, json: o.json }));
}

/** `start`: idempotent, as CI calls it. */
function addStartCommand(program: Command): void {
  program
    .command('start <name>')
    .description('start a migration; idempotent (the same definition again is a no-op)')
    .option('--cool-off <duration>', 'override contract.after, e.g. 30s for a demo')
    .option('--deadline <duration>', 'pace the backfill to finish within this long (overrides backfill.deadline)')
    .option('--wait-for <phase>', 'return once this phase is reached ("expanded": expand is done)')
    .option('--by <who>', 'who starts it (audit trail)')
    .option('--json', 'print JSON')
    .action(startAction);
}

/** The options of `ferry start`, as commander parses them. */
interface StartOptions {
  coolOff?: string;
  deadline?: string;
  waitFor?: string;
  by?: string;
  json?: boolean;
}

/** `ferry start <name>`: checks the options before Temporal is asked anything, starts (or finds) the run, prints where to look. */
async function startAction(name: string, o: StartOptions): Promise<void> {
  const waitFor = o.waitFor ? parseWaitFor(o.waitFor) : undefined;
  if (o.coolOff !== undefined) parseDuration(o.coolOff, '--cool-off'); // refused before anything is asked of Temporal
  if (o.deadline !== undefined) parseDuration(o.deadline, '--deadline');
  const migration = loadMigration(name);
  await withClient(async (fc) => {
    const beforeStart = () => (require('./prove') as typeof import('./prove')).proveBeforeStart(migration);
    const result = await startMigration(fc, migration, {
      startedBy: o.by ?? defaultActor(process.env, fc.caller),
      coolOff: o.coolOff,
      deadline: o.deadline,
      beforeStart,
    });
    await noteMissingAttributes(fc);
    const reached = waitFor ? await waitForPhase(fc, name, waitFor) : undefined;
    printStarted(name, migration.specHash, { ...result, reached, webUi: webUiUrl(fc.config.namespace, result.workflowId) }, o.json);
  });
}

/** What `ferry start` prints: the outcome, how it resumed, the definition's check, the Web UI and the next command. */
function printStarted(
  name: string,
  specHash: string,
  r: Awaited<ReturnType<typeof startMigration>> & { reached?: string; webUi: string | undefined },
  json = false,
): void {
  const words = { started: 'started', 'already-running': 'is already running', 'already-completed': 'already completed' };
  for (const line of json ? [] : (r.notApplied ?? [])) console.error(`ferry: ${line}`);
  if (r.previousRun && !json) console.log(`${r.previousRun}; starting a new run.`);
  const from = r.resumedFrom;
  const resumed = from ? `; resuming the ${from.status.toLowerCase()} run ${from.runId} (${from.phase}) from its checkpoints` : '';
  print(
    json,
    r,
    `migration ${name} ${words[r.status]} (spec ${specHash})${resumed}` +
      `${r.reached ? `; now ${r.reached}` : ''}\n${r.checked ? `  definition: ${r.checked}\n` : ''}  web UI: ${webUiLine(r.webUi)}\n  status: ferry status ${name}`,
  );
}

/** `generate` and `plan`: writing a migration and checking it before a start. */
function addPlanningCommands(program: Command): void {
  program
    .command('generate <name>')
    .description(
      "write a ferry migration from the difference between a TypeORM application's entities and its database (TypeORM's schema builder)",
    )
    .option('--data-source <file>', "the file exporting the application's TypeORM DataSource (default: FERRY_DATA_SOURCE)")
    .option('--rename <table.column:new>', 'a column the entities renamed (repeatable)', (v: string, all: string[] = []) => [...all, v])
    .option('--out <dir>', 'where to write the migration (default: FERRY_MIGRATIONS, else ./migrations)')
    .option('--typeorm-migrations <dir>', 'also write a TypeORM migration class (ferryMigration) there, e.g. src/migrations')
    .option('--after <duration>', "the contract's cool-off (contract.after)", '7d')
    .option('--batch-size <rows>', 'a fixed backfill batch size (default: adaptive)')
    .option('--pause <duration>', 'a pause between backfill batches (backfill.pause), e.g. 50ms')
    .option('--json', 'print JSON')
    .action((name: string, o) => (require('./generate') as typeof import('./generate')).generateCommand(name, o));

  program
    .command('plan <name>')
    .description('validate a migration, print its DDL, estimate rows, time a trial batch (rolled back) and the ETA (needs DATABASE_URL)')
    .option('--deadline <duration>', 'exit 1 when the backfill cannot finish within it (default: backfill.deadline)')
    .option('--no-trial', 'do not run the trial batch')
    .option('--data-source <file>', "connect with the application's TypeORM DataSource (default: FERRY_DATA_SOURCE, else DATABASE_URL)")
    .option('--json', 'print JSON')
    .action(async (name: string, o) => {
      const code = await (require('./plan') as typeof import('./plan')).planCommand(name, o);
      if (code !== 0) throw new FerryError('FAILED', `migration "${name}" cannot meet its deadline; see the plan above.`);
    });
}

/** `deployed`, `pause`, `resume`, `approve`, `finalize`, `abort`. */
function addControlCommands(program: Command): void {
  program
    .command('deployed <name>')
    .description('signal that the code writing both shapes is deployed')
    .option('--by <who>', 'who deployed')
    .option('--reason <text>', 'e.g. the release')
    .action((name: string, o) =>
      withClient(async (fc) => {
        await signalDeployed(fc, name, { by: o.by ?? defaultActor(process.env, fc.caller), reason: o.reason });
        console.log(`migration ${name}: deployed signal sent`);
      }),
    );

  addControl(program, 'pause', msg.pauseUpdate, 'stop the backfill after the current batch, or hold the current phase');
  addControl(program, 'resume', msg.resumeUpdate, 'continue from the checkpoint');
  addFailedRowsCommands(program, withClient, print);
  addControl(
    program,
    'finalize',
    msg.finalizeUpdate,
    'run the rest of the backfill now, without deadline pacing (health checks still apply)',
  );
  addAbortCommand(program);
}

/** Says once, on stderr, that the namespace lacks ferry's search attributes and how to add them. */
async function noteMissingAttributes(fc: FerryClient): Promise<void> {
  const note = await missingNotice(fc);
  if (note) console.error(`ferry: ${note}`);
}

/** `status`, `list`, `history`. */
function addInspectCommands(program: Command): void {
  program
    .command('status <name>')
    .description('phase, progress, rate, ETA, and what the migration waits for')
    .option('--json', 'print JSON')
    .option('--watch', 'draw a live progress bar until the migration ends (Ctrl-C to stop watching)')
    .option('--until <phase>', 'with --watch: stop watching once this phase is reached')
    .action((name: string, o) =>
      withClient(async (fc) => {
        if (o.watch) return watchStatus(fc, name, o.until ? parseWaitFor(o.until) : undefined);
        const p = await getProgress(fc, name).catch((err) => explainNotStarted(name, err));
        await noteMissingAttributes(fc);
        const notes = statusNotes(name, p);
        print(
          o.json,
          { ...p, ...notes.json },
          [formatProgress(p, webUiUrl(fc.config.namespace, workflowId(name))), ...notes.lines].join('\n'),
        );
        if (hasFailed(p.phase, p.status))
          throw new FerryError('FAILED', `migration "${name}" failed${p.lastError ? `: ${p.lastError.replace(/\.$/, '')}` : ''}.`);
      }),
    );

  program
    .command('list')
    .description('every migration, with its phase')
    .option('--json', 'print JSON')
    .action((o) =>
      withClient(async (fc) => {
        const rows = await listMigrations(fc);
        await noteMissingAttributes(fc);
        print(o.json, rows, formatList(rows));
      }),
    );

  program
    .command('history <name>')
    .description('the audit trail: who started, signalled, paused, approved, aborted, and when')
    .option('--json', 'print JSON')
    .action((name: string, o) =>
      withClient(async (fc) => {
        const entries = await getAudit(fc, name);
        print(o.json, entries, formatAudit(entries));
      }),
    );
}

type ControlUpdate = Parameters<typeof control>[2];

function addControl(program: Command, verb: string, update: ControlUpdate, about: string, extra?: (c: Command) => Command): void {
  let cmd = program
    .command(`${verb} <name>`)
    .description(about)
    .option('--by <who>', 'who does it (audit trail)')
    .option('--reason <text>', 'why (audit trail)')
    .addOption(new Option('--json', 'print JSON'));
  if (extra) cmd = extra(cmd);
  cmd.action((name: string, o) =>
    withClient(async (fc) => {
      const p = await control(fc, name, update, {
        by: o.by ?? defaultActor(process.env, fc.caller),
        reason: o.reason,
        rollback: o.rollback,
      });
      print(o.json, p, `migration ${name}: ${verb} accepted\n${formatProgress(p)}`);
    }),
  );
}

/** Parses argv, runs the command, and exits with ferry's exit codes. */
export async function main(argv = process.argv): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.badInput;
    if (err instanceof FerryError) {
      console.error(`ferry: ${err.message}`);
      return err.exitCode;
    }
    console.error(`ferry: ${(err as Error)?.stack ?? err}`);
    return EXIT.failed;
  }
}

/**
 * Entry point of bin/ferry.js: runs and exits with the command's code, once stdout and stderr are
 * flushed (into a pipe — CI, a script — output is written asynchronously, and exiting at once
 * cut `ferry list --json` off at 64 KiB).
 */
export function run(): void {
  main().then((code) => {
    process.exitCode = code;
    process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
  });
}
