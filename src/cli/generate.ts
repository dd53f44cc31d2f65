/**
 * `ferry generate <name> --data-source src/data-source.ts [--rename users.full_name:display_name]`:
 * a ferry migration from the difference between a TypeORM application's entities and its database.
 */
import { FerryError } from '../contract/errors';
import { parseDuration } from '../contract/duration';
import { MAX_BATCH_ROWS } from '../definition/define';
import { generateMigration, type GenerateResult } from '../typeorm/generate';

/** Options of `ferry generate`. */
export interface GenerateCommandOptions {
  dataSource?: string;
  rename?: string[];
  out?: string;
  typeormMigrations?: string;
  after?: string;
  /** As typed: a whole number of rows above 0. */
  batchSize?: string;
  pause?: string;
  json?: boolean;
}

/** Runs `ferry generate`; exit 1 (after writing the rest) when a difference has no safe form. */
export async function generateCommand(name: string, o: GenerateCommandOptions): Promise<void> {
  const dataSource = o.dataSource ?? process.env.FERRY_DATA_SOURCE;
  if (!dataSource) {
    throw new FerryError(
      'BAD_INPUT',
      "ferry generate needs the application's TypeORM DataSource: --data-source src/data-source.ts (or FERRY_DATA_SOURCE).",
    );
  }
  if (!/^[a-z0-9][a-z0-9_-]*$/i.test(name)) {
    throw new FerryError('BAD_INPUT', `migration name "${name}" must be letters, digits, "-" and "_" (it names a file and a workflow).`);
  }
  if (o.after !== undefined) parseDuration(o.after, '--after');
  if (o.pause !== undefined) parseDuration(o.pause, '--pause');
  const batchSize = o.batchSize === undefined ? undefined : batchSizeOption(o.batchSize);
  const r = await generateMigration({
    name,
    dataSource,
    renames: o.rename,
    out: o.out,
    typeormMigrations: o.typeormMigrations,
    after: o.after,
    batchSize,
    pause: o.pause,
  });
  console.log(o.json ? JSON.stringify(r, null, 2) : formatResult(name, r));
  if (r.unsafe.length) {
    throw new FerryError(
      'FAILED',
      `${r.unsafe.length} ${r.unsafe.length === 1 ? 'difference has' : 'differences have'} no safe form and ${r.unsafe.length === 1 ? 'is' : 'are'} not in ` +
        `${r.file ? `"${r.file}"` : 'any file'}; write ${r.unsafe.length === 1 ? 'it' : 'them'} by hand (listed above).`,
    );
  }
}

/** `--batch-size` as typed, as rows: a whole number from 1 to `MAX_BATCH_ROWS` (what the definition accepts). */
function batchSizeOption(typed: string): number {
  const rows = Number(typed);
  if (/^\d+$/.test(typed) && rows >= 1 && rows <= MAX_BATCH_ROWS) return rows;
  throw new FerryError(
    'BAD_INPUT',
    `--batch-size "${typed}" is not a whole number of rows from 1 to ${MAX_BATCH_ROWS.toLocaleString('en-US')}; nothing was written.`,
  );
}

function formatResult(name: string, r: GenerateResult): string {
  if (!r.statements.length) return 'the entities match the database: nothing to generate.';
  const lines = [
    `TypeORM's schema builder would run (typeorm migration:generate):`,
    ...r.statements.map((s) => `    ${s};`),
    ...(r.file ? [`wrote ${r.file}`] : []),
    ...(r.typeormFile ? [`wrote ${r.typeormFile} (class ${r.typeormClass})`] : []),
    ...r.review.map((s) => `  review: ${s}`),
    ...r.unsafe.map((u) => `  not in the migration: ${u.sql}\n      ${u.why}`),
  ];
  if (r.file && !r.typeormFile) {
    lines.push(
      'run it from typeorm migration:run with a migration class:',
      `    export class ... extends ferryMigration('${name}', { waitFor: 'expanded' }) {}`,
    );
  }
  lines.push(`next: ferry plan ${name} (proves it against the database), then typeorm migration:run`);
  return lines.join('\n');
}
