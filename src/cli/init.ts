/**
 * `ferry init`: scaffolds the migrations directory of an application with one commented example
 * migration (TypeScript when the application has a tsconfig.json, else JavaScript in the module
 * format of its package.json), and prints the next steps. Never overwrites a file.
 */
import fs from 'node:fs';
import path from 'node:path';
import { FerryError } from '../contract/errors';
import { listMigrationFiles, migrationsDir } from '../definition/registry';

/** Options of {@link initCommand}. */
export interface InitOptions {
  /** Force the example's language; default: TypeScript when `cwd` has a tsconfig.json. */
  language?: 'ts' | 'js';
  /** The application's directory (default: the current directory). */
  cwd?: string;
  /** The migrations directory (default: `FERRY_MIGRATIONS`, else `<cwd>/migrations`). */
  dir?: string;
}

/** What {@link initCommand} wrote. */
export interface InitResult {
  file: string;
  language: 'ts' | 'js-commonjs' | 'js-esm';
}

/** The example's name, which is also its file name without the extension. */
export const EXAMPLE_NAME = 'orders-total-cents';

const HEADER = `/**
 * An example migration, written by \`npx ferry init\`: edit it for one of your tables, rename it
 * (the file name is the migration's name) or delete it. A migration file is self-contained: it
 * never imports your application's models, because it runs for days across deploys.
 *
 * orders.total (numeric, in currency units) becomes orders.total_cents (bigint):
 *   expand     adds the new column (additive DDL; \`down\` undoes it on an abort)
 *   dualWrite  a trigger that ferry installs fills the new column on every insert and update
 *              (or { by: 'app' }: your code writes both shapes; \`npx ferry deployed\` says it ships)
 *   backfill   fills the existing rows in small batches; \`where\` selects the rows still to do,
 *              so running a batch twice changes nothing
 *   verify     \`where\` selects the rows that are wrong; none may be left
 *   contract   drops the old column, after the cool-off and \`npx ferry approve\`
 * Every phase must be safe to run twice: crashes and redeploys repeat steps.
 */`;

const DEFINITION = `defineMigration({
  table: 'orders', // "schema"."name" works too
  expand: {
    up: 'ALTER TABLE orders ADD COLUMN IF NOT EXISTS total_cents bigint',
    down: 'ALTER TABLE orders DROP COLUMN IF EXISTS total_cents',
  },
  dualWrite: { by: 'trigger', body: 'NEW.total_cents := round(NEW.total * 100);' },
  backfill: {
    where: 'total_cents IS NULL AND total IS NOT NULL', // rows still to do
    set: 'total_cents = round(total * 100)',
    batchSize: 1000, // the first batch; later ones are sized to take about 200 ms
  },
  verify: { where: 'total_cents IS DISTINCT FROM round(total * 100)' }, // rows that are wrong
  contract: {
    up: 'ALTER TABLE orders DROP COLUMN IF EXISTS total', // runs only after verify, the cool-off and an approval
    after: '7d', // the cool-off; \`npx ferry start ${EXAMPLE_NAME} --cool-off 1m\` overrides it
  },
});
`;

const SOURCES: Record<InitResult['language'], { ext: string; text: string }> = {
  ts: { ext: '.ts', text: `${HEADER}\nimport { defineMigration } from 'ferry';\n\nexport default ${DEFINITION}` },
  'js-esm': { ext: '.js', text: `${HEADER}\nimport { defineMigration } from 'ferry';\n\nexport default ${DEFINITION}` },
  'js-commonjs': { ext: '.js', text: `${HEADER}\nconst { defineMigration } = require('ferry');\n\nmodule.exports = ${DEFINITION}` },
};

/** TypeScript with a tsconfig.json; else JavaScript in the format of the nearest package.json. */
function languageOf(cwd: string, forced: InitOptions['language']): InitResult['language'] {
  const ts = forced ? forced === 'ts' : fs.existsSync(path.join(cwd, 'tsconfig.json'));
  if (ts) return 'ts';
  try {
    const pkg = JSON.parse(fs.readFileSync(path.join(cwd, 'package.json'), 'utf8')) as { type?: string };
    return pkg.type === 'module' ? 'js-esm' : 'js-commonjs';
  } catch {
    return 'js-commonjs';
  }
}

/**
 * Writes the example migration into the migrations directory (creating it), refusing to replace
 * any file or to add a second migration of the example's name.
 * @example const { file } = initCommand({ language: 'ts' }); // migrations/orders-total-cents.ts
 * @throws FerryError CONFLICT (exit 3) naming the file that exists; nothing is written.
 */
export function initCommand(opts: InitOptions = {}): InitResult {
  const cwd = path.resolve(opts.cwd ?? process.cwd());
  const dir = opts.dir ? path.resolve(cwd, opts.dir) : process.env.FERRY_MIGRATIONS ? migrationsDir() : path.join(cwd, 'migrations');
  const language = languageOf(cwd, opts.language);
  const { ext, text } = SOURCES[language];
  const file = path.join(dir, `${EXAMPLE_NAME}${ext}`);
  const existing = fs.existsSync(file) ? file : fs.existsSync(dir) ? listMigrationFiles(dir).get(EXAMPLE_NAME) : undefined;
  if (existing) {
    throw new FerryError(
      'CONFLICT',
      `"${existing}" already exists; ferry init never overwrites a file. ` +
        `Rename or delete it to scaffold the example again; nothing was written.`,
    );
  }
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(file, text, { flag: 'wx' });
  return { file, language };
}

/** The lines `ferry init` prints once the example is written. */
export function nextSteps(result: InitResult, cwd = process.cwd()): string {
  const shown = path.relative(cwd, result.file) || result.file;
  const kind = { ts: 'TypeScript', 'js-esm': 'JavaScript (ESM)', 'js-commonjs': 'JavaScript (CommonJS)' }[result.language];
  const commands: [string, string][] = [
    ['npx ferry setup', "install ferry's own schema, once, as an owner role (--grant-to <worker role>)"],
    ['npx ferry worker', 'run a worker where your services run; keep it running'],
    [`npx ferry plan ${EXAMPLE_NAME}`, 'check a migration against the database: its DDL, rows, a trial batch, the ETA'],
    [`npx ferry start ${EXAMPLE_NAME}`, 'start it (in CI: --wait-for expanded, before the deploy that writes both shapes)'],
    [`npx ferry status ${EXAMPLE_NAME}`, 'where it stands and what it waits for (npx ferry approve allows the contract)'],
  ];
  const width = Math.max(...commands.map(([c]) => c.length)) + 3;
  return [
    `Created ${shown}: an example migration in ${kind}. Edit it for one of your tables, rename it, or delete it.`,
    '',
    'Next steps:',
    '  1. Point ferry at PostgreSQL and at Temporal (read from the environment; nothing secret is sent to Temporal):',
    '       export DATABASE_URL=postgres://user:password@host:5432/app',
    '       export TEMPORAL_ADDRESS=localhost:7233 TEMPORAL_NAMESPACE=default',
    '     or a temporal.toml profile, shared with the temporal CLI: TEMPORAL_PROFILE=<name> (TEMPORAL_CONFIG_FILE=<path>)',
    ...commands.map(([command, what], i) => `  ${i + 2}. ${command.padEnd(width)}${what}`),
    '',
    'Migrations live in FERRY_MIGRATIONS (default ./migrations), one file per migration: .ts, .mts, .cts, .js, .cjs or .mjs.',
  ].join('\n');
}
