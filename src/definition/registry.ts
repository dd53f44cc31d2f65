import fs from 'node:fs';
import path from 'node:path';
import { FerryError } from '../contract/errors';
import { validateDefinition, type MigrationDefinition } from './define';
import { acceptedSpecHashes, authorInput } from './spec-hash';

/** A migration as the worker and the CLI see it: its definition, named after its file. */
export interface LoadedMigration {
  name: string;
  file: string;
  definition: MigrationDefinition;
  /** The spec hash `ferry start` records (see src/definition/spec-hash.ts). */
  specHash: string;
  /** Hashes of this definition by earlier hash versions, which migrations started before an upgrade carry. */
  acceptedSpecHashes?: string[];
}

/**
 * Whether a migration started with `hash` runs this definition: the current hash, or one an
 * earlier ferry computed for the same definition.
 * @example acceptsSpecHash(loadMigration('posts-member-uuid'), input.specHash)
 */
export function acceptsSpecHash(m: LoadedMigration, hash: string): boolean {
  return m.specHash === hash || (m.acceptedSpecHashes ?? []).includes(hash);
}

/** Migration files: TypeScript (.ts/.mts/.cts) and JavaScript, CommonJS or ESM (.js/.cjs/.mjs). */
const MIGRATION_FILE = /\.(ts|mts|cts|js|cjs|mjs)$/;
const DECLARATION_FILE = /\.d\.(ts|mts|cts)$/;

/** The migrations directory: `FERRY_MIGRATIONS`, default `./migrations`. */
export function migrationsDir(dir = process.env.FERRY_MIGRATIONS): string {
  return path.resolve(dir ?? 'migrations');
}

/** Every migration file under `dir` (recursively), by name. Names must be unique. */
export function listMigrationFiles(dir = migrationsDir()): Map<string, string> {
  if (!fs.existsSync(dir)) {
    throw new FerryError('BAD_INPUT', `migrations directory "${dir}" does not exist; create it or set FERRY_MIGRATIONS.`);
  }
  const files = new Map<string, string>();
  for (const entry of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !MIGRATION_FILE.test(entry.name) || DECLARATION_FILE.test(entry.name)) continue;
    const name = entry.name.replace(MIGRATION_FILE, '');
    const file = path.join(entry.parentPath, entry.name);
    const seen = files.get(name);
    if (seen) {
      throw new FerryError('BAD_INPUT', `migration "${name}" is defined twice, in "${seen}" and "${file}"; rename one file.`);
    }
    files.set(name, file);
  }
  return files;
}

/**
 * Loads and validates one migration by name.
 * @throws FerryError UNKNOWN_MIGRATION (listing the known names) or INVALID_DEFINITION.
 */
export function loadMigration(name: string, dir = migrationsDir()): LoadedMigration {
  const files = listMigrationFiles(dir);
  const file = files.get(name);
  if (!file) {
    const known = [...files.keys()].sort().join(', ') || 'none';
    throw new FerryError(
      'UNKNOWN_MIGRATION',
      `migration "${name}" is not in "${dir}" (found: ${known}); check the name or set FERRY_MIGRATIONS.`,
    );
  }
  return loadMigrationFile(name, file);
}

/**
 * Loads every migration in the directory. Without `broken` the first file that does not load
 * throws; with it, such a file is skipped and its error recorded there by name (a worker serves
 * the other migrations: one bad file must not stop them all).
 * @example const broken = new Map(); const all = loadAllMigrations(dir, broken); for (const [name, why] of broken) log(why);
 */
export function loadAllMigrations(dir = migrationsDir(), broken?: Map<string, string>): Map<string, LoadedMigration> {
  const all = new Map<string, LoadedMigration>();
  for (const [name, file] of listMigrationFiles(dir)) {
    if (!broken) {
      all.set(name, loadMigrationFile(name, file));
      continue;
    }
    try {
      all.set(name, loadMigrationFile(name, file));
    } catch (err) {
      broken.set(name, withFile((err as Error).message, file));
    }
  }
  return all;
}

/**
 * Reloads `into` from the directory in place. A file that no longer loads keeps its previous
 * definition and is logged: a typo saved in one file must not stop the worker's other migrations.
 * `broken` (name → error) is kept up to date: a file that loads again leaves it; a changed error
 * is logged once.
 */
export function reloadMigrations(
  into: Map<string, LoadedMigration>,
  dir = migrationsDir(),
  log = console.error,
  broken?: Map<string, string>,
): void {
  for (const [name, file] of listMigrationFiles(dir)) {
    try {
      into.set(name, loadMigrationFile(name, file));
      broken?.delete(name);
    } catch (err) {
      const message = withFile((err as Error).message, file);
      if (broken?.get(name) === message) continue;
      broken?.set(name, message);
      log(into.has(name) ? `ferry: keeping the loaded definition of "${name}": ${message}` : `ferry: skipping "${name}": ${message}`);
    }
  }
}

function loadMigrationFile(name: string, file: string): LoadedMigration {
  let exported: unknown;
  try {
    useTsx();
    delete require.cache[file]; // a reload sees the file as it is now
    const mod = require(file);
    exported = mod?.default ?? mod;
  } catch (err) {
    if (err instanceof FerryError) throw relabel(err, name);
    throw new FerryError(
      'INVALID_DEFINITION',
      `migration "${name}" (${file}) failed to load: ${loadFailure(err as NodeJS.ErrnoException, file)}`,
    );
  }
  const definition = validateDefinition(exported, name);
  const [current, ...earlier] = acceptedSpecHashes(authorInput(exported), name);
  return { name, file, definition, specHash: current, acceptedSpecHashes: earlier };
}

let loaderChecked = false;

/**
 * Makes `require` load every kind of migration file: under plain Node (the installed CLI runs
 * compiled JavaScript) it registers tsx's require hook once, which compiles TypeScript and turns
 * ESM (`.mjs`, `.js` under `"type": "module"`) into CommonJS, so a reload re-reads any of them.
 * The application needs nothing for it: tsx is a dependency of ferry. From source (bin/ferry.js
 * in a checkout has registered tsx already) or under a test runner with its own `require` (jest),
 * the runtime's loader is left as it is.
 */
function useTsx(): void {
  if (loaderChecked) return;
  loaderChecked = true;
  const nodeRequire = '.js' in require.extensions; // jest's require has no extensions of its own
  if (!nodeRequire || '.ts' in require.extensions) return;
  (require('tsx/cjs/api') as { register(): () => void }).register();
}

/** Why a file did not load, with the next step where the cause is a known one. */
function loadFailure(err: NodeJS.ErrnoException, file: string): string {
  const message = err?.message ?? String(err);
  if (err?.code === 'ERR_REQUIRE_ASYNC_MODULE' || /top-level await/i.test(message)) {
    return `${message}. A migration file is loaded synchronously: move the top-level await into the definition's functions (e.g. backfill.process).`;
  }
  if (err?.code === 'MODULE_NOT_FOUND' && /['"]ferry['"]/.test(message)) {
    return `${message}. Install ferry in the application that holds "${path.dirname(file)}" (npm i ferry), or set FERRY_MIGRATIONS to a directory inside it.`;
  }
  return message;
}

/** The error of a file that does not load, naming the file. */
function withFile(message: string, file: string): string {
  return message.includes(file) ? message : `${message} (file "${file}")`;
}

function relabel(err: FerryError, name: string): FerryError {
  return new FerryError(err.code, err.message.replace('migration "this migration"', `migration "${name}"`));
}

export { specHash } from './spec-hash';
