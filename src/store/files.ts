import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { FerryError } from '../contract/errors';

/**
 * Where ferry's own schema files come from, kept apart from running them (src/store/migrate.ts).
 * The files ship beside this module: `src/store/migrations` from source, `dist/store/migrations`
 * in the installed package (scripts/build.ts copies them there).
 */
export const STORE_MIGRATIONS_DIR = path.join(__dirname, 'migrations');

/** One numbered schema file: `0001_initial.sql` is version 1, name `initial`. */
export interface StoreMigration {
  version: number;
  name: string;
  /** The file name, for messages. */
  file: string;
  sql: string;
  /** sha256 of the file with line endings normalised to `\n` (a CRLF checkout is the same file). */
  checksum: string;
}

const FILE_NAME = /^(\d{4})_([a-z0-9_]+)\.sql$/;

/**
 * The checksum ferry records for a schema file's text.
 * @example checksumOf('CREATE TABLE t ();\r\n') === checksumOf('CREATE TABLE t ();\n') // true
 */
export function checksumOf(sql: string): string {
  return createHash('sha256').update(sql.replace(/\r\n/g, '\n')).digest('hex');
}

/**
 * The schema files in `dir`, in version order. Versions start at 1 and have no gaps, so that "the
 * latest version" of this ferry is a single number.
 * @example loadStoreMigrations().map((m) => m.version) // [1]
 * @throws FerryError FAILED when the directory is missing, a `.sql` file is misnamed, or a
 *   version is missing or repeated: the package is broken, not the database.
 */
export function loadStoreMigrations(dir: string = STORE_MIGRATIONS_DIR): StoreMigration[] {
  let names: string[];
  try {
    names = fs
      .readdirSync(dir)
      .filter((f) => f.endsWith('.sql'))
      .sort();
  } catch (err) {
    throw new FerryError('FAILED', `ferry's schema files are missing: cannot read ${dir} (${(err as Error).message}); reinstall ferry.`);
  }
  const migrations = names.map((file, index): StoreMigration => {
    const match = FILE_NAME.exec(file);
    if (!match) {
      throw new FerryError('FAILED', `schema file "${file}" in ${dir} is not named NNNN_name.sql; rename it (e.g. 0002_add_index.sql).`);
    }
    const version = Number(match[1]);
    if (version !== index + 1) {
      throw new FerryError(
        'FAILED',
        `schema file "${file}" in ${dir} has version ${version}; expected ${index + 1} (versions run 1, 2, 3... without gaps).`,
      );
    }
    const sql = fs.readFileSync(path.join(dir, file), 'utf8');
    return { version, name: match[2], file, sql, checksum: checksumOf(sql) };
  });
  if (migrations.length === 0) throw new FerryError('FAILED', `no schema files in ${dir}; reinstall ferry.`);
  return migrations;
}
