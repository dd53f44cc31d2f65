/** Command-line options of `npm run bench`. */

export interface BenchArgs {
  /** Rows in the generated posts table (`--rows`, default 1,000,000). */
  rows: number;
  /** Print one JSON object on stdout, everything else on stderr (`--json`). */
  json: boolean;
  /** The application's connection pool for the concurrent load (`--app-connections`, default 4). */
  appConnections: number;
  /** Application requests per second, all connections together (`--app-rate`, default 400). */
  appRate: number;
  /** Length of the load window without any backfill (`--baseline-seconds`, default 15). */
  baselineSeconds: number;
  /** Upper bound on the whole application load run, a safety stop (`--app-max-seconds`, default 3600: a 10M-row (d) under a budget runs ~15 minutes). */
  appMaxSeconds: number;
  /**
   * Runs of (a), (b) and (c) without load, interleaved (`--repeat`, default 1); each figure is
   * then the run with the median throughput, which steadies the ratios on a busy machine.
   */
  repeat: number;
  /**
   * Rounds of (b), (c) and (d) under the load, the order rotated each round (`--load-rounds`,
   * default 3); each method's latency figures are then its round with the median p99 ratio.
   */
  loadRounds: number;
  /** Rounds of the frontier's sweep, the order rotated each round (`--frontier-rounds`, default 3); each point is the median. */
  frontierRounds: number;
  /** Keep the databases and workflows for inspection instead of removing them (`--keep`). */
  keep: boolean;
  /** (d)'s latency budget as a ratio to each probe's p99 before the backfill (`--budget-ratio`, default 1.5). */
  budgetRatio: number;
  /** Run the budget sweep that draws the frontier (default; `--no-frontier` skips it). */
  frontier: boolean;
  /** Rows of the frontier sweep's table (`--frontier-rows`, default the smaller of --rows and 1,000,000). */
  frontierRows: number;
}

const USAGE = `usage: npm run bench -- [--rows N] [--json] [--repeat N] [--load-rounds N] [--frontier-rounds N] [--app-connections N] [--app-rate N]
       [--baseline-seconds N] [--app-max-seconds N] [--keep] [--budget-ratio X] [--no-frontier] [--frontier-rows N]`;

function positiveInt(flag: string, raw: string | undefined): number {
  const n = Number(raw);
  if (raw === undefined || !Number.isInteger(n) || n <= 0) {
    throw new Error(`${flag} needs a positive integer, got "${raw ?? ''}"\n${USAGE}`);
  }
  return n;
}

/**
 * Parses the bench's options; unknown options are an error that shows the usage.
 * @example parseArgs(['--rows', '100000', '--json']).rows === 100000
 */
export function parseArgs(argv: string[]): BenchArgs {
  const args: BenchArgs = {
    rows: 1_000_000,
    json: false,
    appConnections: 4,
    appRate: 400,
    baselineSeconds: 15,
    appMaxSeconds: 3600,
    repeat: 1,
    loadRounds: 3,
    frontierRounds: 3,
    keep: false,
    budgetRatio: 1.5,
    frontier: true,
    frontierRows: 0,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === '--json') args.json = true;
    else if (flag === '--keep') args.keep = true;
    else if (flag === '--rows') args.rows = positiveInt(flag, argv[++i]);
    else if (flag === '--repeat') args.repeat = positiveInt(flag, argv[++i]);
    else if (flag === '--load-rounds') args.loadRounds = positiveInt(flag, argv[++i]);
    else if (flag === '--frontier-rounds') args.frontierRounds = positiveInt(flag, argv[++i]);
    else if (flag === '--app-connections') args.appConnections = positiveInt(flag, argv[++i]);
    else if (flag === '--app-rate') args.appRate = positiveInt(flag, argv[++i]);
    else if (flag === '--baseline-seconds') args.baselineSeconds = positiveInt(flag, argv[++i]);
    else if (flag === '--app-max-seconds') args.appMaxSeconds = positiveInt(flag, argv[++i]);
    else if (flag === '--budget-ratio') args.budgetRatio = ratioArg(flag, argv[++i]);
    else if (flag === '--no-frontier') args.frontier = false;
    else if (flag === '--frontier-rows') args.frontierRows = positiveInt(flag, argv[++i]);
    else throw new Error(`unknown option "${flag}"\n${USAGE}`);
  }
  if (args.frontierRows === 0) args.frontierRows = Math.min(args.rows, 1_000_000); // windows of seconds: at 200,000 rows its p99s were noise
  return args;
}

function ratioArg(flag: string, raw: string | undefined): number {
  const n = Number(raw);
  if (raw === undefined || !Number.isFinite(n) || n < 1) throw new Error(`${flag} needs a number ≥ 1, got "${raw ?? ''}"\n${USAGE}`);
  return n;
}
