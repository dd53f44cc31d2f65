/**
 * `ferry generate <name> --data-source src/data-source.ts [--rename users.full_name:display_name]`:
 * the difference between the application's entities and its database, read with TypeORM's own
 * schema builder, written as a ferry migration (see plan-changes.ts) instead of the DROP + ADD that
 * `typeorm migration:generate` writes for a renamed or retyped column.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { DataSource } from 'typeorm';
import { FerryError } from '../contract/errors';
import { migrationsDir } from '../definition/registry';
import { connectionError, type PoolSource } from '../pg/pool';
import { connectionSource, loadDataSource } from './connection';
import { classify, unfoldRenames, type Change, type TableRef } from './diff';
import { planChanges, type OldColumn, type Rename } from './plan-changes';
import { renderMigration, renderTypeormClass, typeormClassName } from './render';

/** What `ferry generate` is asked. */
export interface GenerateOptions {
  name: string;
  /** The file that exports the application's DataSource (its entities and its connection). */
  dataSource: string;
  /** `table.column:new_name`, or `schema.table.column:new_name`. */
  renames?: string[];
  /** Where the ferry migration file goes; default FERRY_MIGRATIONS, else ./migrations. */
  out?: string;
  /** Also write a TypeORM migration class (made with ferryMigration) into this directory. */
  typeormMigrations?: string;
  /** contract.after of the generated migration; default 7d. */
  after?: string;
  /** A fixed backfill batch size (batchSize = minBatchSize = maxBatchSize); default: ferry's adaptive sizing. */
  batchSize?: number;
  /** backfill.pause: a pause between batches (e.g. '50ms'); default none. */
  pause?: string;
  /** The TypeORM class's timestamp; default now. */
  timestamp?: number;
}

/** What it wrote, and what it could not turn into a safe migration. */
export interface GenerateResult {
  /** The schema builder's statements (what `typeorm migration:generate` would write). */
  statements: string[];
  file?: string;
  typeormFile?: string;
  typeormClass?: string;
  review: string[];
  unsafe: { sql: string; why: string }[];
}

/**
 * Parses `--rename users.full_name:display_name`.
 * @example parseRename('app.users.full_name:display_name') // { table: { schema: 'app', name: 'users' }, from: 'full_name', to: 'display_name' }
 */
export function parseRename(text: string): Rename {
  const m = /^(?:([^.:]+)\.)?([^.:]+)\.([^.:]+):([^.:]+)$/.exec(text.trim());
  if (!m) throw new FerryError('BAD_INPUT', `--rename "${text}" is not table.column:new_name (e.g. users.full_name:display_name).`);
  return { table: { ...(m[1] ? { schema: m[1] } : {}), name: m[2] }, from: m[3], to: m[4] };
}

/** Generates the migration (see the module's doc); writes nothing when a rename matches no change or the file exists. */
export async function generateMigration(opts: GenerateOptions): Promise<GenerateResult> {
  const renames = (opts.renames ?? []).map(parseRename);
  const source = await connectionSource(opts.dataSource);
  const ds = await loadDataSource(opts.dataSource, '--data-source');
  const { statements, changes, old, keys } = await readDifference(ds, source);
  if (!statements.length) return { statements, review: [], unsafe: [] };
  checkRenames(renames, changes);
  const plan = planChanges(
    changes,
    renames,
    (t, c) => old.get(columnKey(t, c)),
    (t) => keys.get(tableKey(t)) ?? [],
  );
  if (!plan)
    return {
      statements,
      review: [],
      unsafe: changes.map((c) => ({ sql: c.sql, why: 'kind' in c && c.kind === 'other' ? c.why : 'no table' })),
    };
  const file = path.join(migrationsDir(opts.out), `${opts.name}.ts`);
  const files = new Map([
    [
      file,
      renderMigration(opts.name, plan, {
        dataSource: opts.dataSource,
        after: opts.after ?? '7d',
        batchSize: opts.batchSize,
        pause: opts.pause,
      }),
    ],
  ]);
  const result: GenerateResult = { statements, file, review: plan.review, unsafe: plan.unsafe };
  if (opts.typeormMigrations) {
    const timestamp = opts.timestamp ?? Date.now();
    result.typeormClass = typeormClassName(opts.name, timestamp);
    result.typeormFile = path.join(opts.typeormMigrations, `${timestamp}-${result.typeormClass.slice(0, -String(timestamp).length)}.ts`);
    files.set(result.typeormFile, renderTypeormClass(opts.name, timestamp, result.typeormFile));
  }
  writeNew(files);
  return result;
}

const tableKey = (t: TableRef) => `${t.schema ?? ''}.${t.name}`;
const columnKey = (t: TableRef, c: string) => `${tableKey(t)}.${c}`;

/** The schema builder's statements, classified, and the columns and keys the database has now for the tables they touch. */
async function readDifference(ds: DataSource, source: PoolSource) {
  // As TypeORM's CLI does: never let initialize() change the database.
  ds.setOptions({ synchronize: false, migrationsRun: false, dropSchema: false, logging: false, subscribers: [] });
  await ds.initialize().catch((err) => {
    throw connectionError(err, source);
  });
  try {
    const statements = (await ds.driver.createSchemaBuilder().log()).upQueries.map((q) => q.query);
    const changes: Change[] = [];
    for (const sql of statements) changes.push(await classify(sql));
    const old = new Map<string, OldColumn>();
    const keys = new Map<string, string[]>();
    const runner = ds.createQueryRunner();
    try {
      for (const c of changes) {
        if (!('table' in c) || Array.isArray(c.table) || keys.has(tableKey(c.table))) continue;
        const table = await runner.getTable(c.table.schema ? `${c.table.schema}.${c.table.name}` : c.table.name);
        keys.set(tableKey(c.table), table?.primaryColumns.map((col) => col.name) ?? []);
        for (const col of table?.columns ?? []) {
          old.set(columnKey(c.table, col.name), { type: ds.driver.createFullType(col), notNull: !col.isNullable });
        }
      }
    } finally {
      await runner.release();
    }
    return { statements, changes: unfoldRenames(changes, (t, c) => old.get(columnKey(t, c))), old, keys };
  } finally {
    await ds.destroy();
  }
}

/** Every --rename must name a column the schema builder drops and one it adds on that table. */
function checkRenames(renames: Rename[], changes: Change[]): void {
  const on = (r: Rename, kind: string, column: string) =>
    changes.some((c) => c.kind === kind && 'column' in c && c.column === column && c.table.name === r.table.name);
  for (const r of renames) {
    if (on(r, 'drop-column', r.from) && on(r, 'add-column', r.to)) continue;
    const cols = (kind: string) =>
      changes.flatMap((c) => (c.kind === kind && 'column' in c ? [`${c.table.name}.${c.column}`] : [])).join(', ') || 'none';
    throw new FerryError(
      'BAD_INPUT',
      `--rename ${r.table.name}.${r.from}:${r.to} matches no column the entities drop and add (dropped: ${cols('drop-column')}; ` +
        `added: ${cols('add-column')}); check the names. Nothing was written.`,
    );
  }
}

/** Writes new files; none is written when any of them exists (an existing file is never overwritten). */
function writeNew(files: Map<string, string>): void {
  for (const file of files.keys()) {
    if (fs.existsSync(file))
      throw new FerryError('BAD_INPUT', `"${file}" already exists; remove it or choose another name. Nothing was written.`);
  }
  for (const [file, text] of files) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, text);
  }
}
