/** The text of the files `ferry generate` writes: the ferry migration and the TypeORM class that runs it. */
import { quoteIdent } from '../pg/quote';
import type { PlannedMigration } from './plan-changes';

/** A TypeScript string literal: single quotes, or a template literal for text with quotes or lines. */
function str(s: string): string {
  if (!/['\n]/.test(s)) return `'${s.replace(/\\/g, '\\\\')}'`;
  return `\`${s.replace(/\\/g, '\\\\').replace(/`/g, '\\`').replace(/\$\{/g, '\\${')}\``;
}

const list = (items: string[], indent: string) =>
  items.length === 1 ? str(items[0]) : `[\n${items.map((i) => `${indent}  ${str(i)},`).join('\n')}\n${indent}]`;

/** The ferry migration file. */
export function renderMigration(
  name: string,
  p: PlannedMigration,
  opts: { dataSource: string; after: string; batchSize?: number; pause?: string },
): string {
  const table = p.table.schema
    ? `${quoteIdent(p.table.schema)}.${quoteIdent(p.table.name)}`
    : /^[a-z_][a-z0-9_]*$/.test(p.table.name)
      ? p.table.name
      : quoteIdent(p.table.name);
  const header = [
    `// ${name}: written by \`ferry generate\` from the entities of ${opts.dataSource} (TypeORM's schema builder).`,
    '// Review it, prove it with `ferry plan`, then run it with a TypeORM migration made with ferryMigration.',
    ...p.review.map((r) => `// - ${r}`),
    ...(p.unsafe.length
      ? ['// NOT in this migration (no safe form; write them by hand):', ...p.unsafe.map((u) => `// - ${u.sql}: ${u.why}`)]
      : []),
  ];
  const body = [
    `  table: ${str(table)},`,
    '  expand: {',
    `    up: ${list(p.expandUp, '    ')},`,
    `    down: ${list(p.expandDown, '    ')},`,
    '  },',
    "  // ferry's trigger writes both shapes whatever the application writes with (TypeORM subscribers miss update() and raw SQL).",
    `  dualWrite: { by: 'trigger', body: ${str(p.trigger || 'NULL; -- nothing to keep in sync')} },`,
    `  backfill: { where: ${str(p.where)}, set: ${str(p.set)}${opts.batchSize ? `, batchSize: ${opts.batchSize}, minBatchSize: ${opts.batchSize}, maxBatchSize: ${opts.batchSize}` : ''}${opts.pause ? `, pause: ${str(opts.pause)}` : ''} },`,
    ...(p.verify ? [`  verify: { where: ${str(p.verify)} },`] : []),
    `  contract: { up: ${list(p.contractUp, '  ')}, after: ${str(opts.after)} },`,
  ];
  return `${header.join('\n')}\nimport { defineMigration } from 'ferry';\n\nexport default defineMigration({\n${body.join('\n')}\n});\n`;
}

/**
 * The TypeORM class's name: the migration's name in PascalCase plus the timestamp TypeORM orders by.
 * @example typeormClassName('users-v2', 1732900000000) // 'UsersV21732900000000'
 */
export function typeormClassName(name: string, timestamp: number): string {
  const pascal = name
    .split(/[^a-zA-Z0-9]+/)
    .filter(Boolean)
    .map((w) => w[0].toUpperCase() + w.slice(1))
    .join('');
  return `${/^[A-Z]/.test(pascal) ? pascal : `Ferry${pascal}`}${timestamp}`;
}

/** The TypeORM migration that `typeorm migration:run` runs: it starts the ferry migration and waits until it is expanded. */
export function renderTypeormClass(name: string, timestamp: number, file: string): string {
  return (
    `// ${file}\n` +
    "import { ferryMigration } from 'ferry/typeorm';\n\n" +
    `export class ${typeormClassName(name, timestamp)} extends ferryMigration(${str(name)}, { waitFor: 'expanded' }) {}\n`
  );
}
