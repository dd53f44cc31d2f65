import { createHash } from 'node:crypto';
import { validateDefinition } from './define';

/**
 * The spec hash: what `ferry start` records in the workflow (input, search attribute) and what a
 * worker checks before it runs an activity, so that a migration only ever runs the definition it
 * was started with.
 *
 * Version 2 (`v2-…`) hashes what the author wrote, not the validated definition, so a default
 * added to the definition schema in a later release changes no hash. Version 1 (16 hex digits,
 * ferry 0.1.x) hashed the validated definition; migrations started under it keep running: a
 * loaded migration accepts both (`acceptedSpecHashes`).
 */

/** Where `defineMigration` keeps what the author wrote, beside the validated definition. */
export const AUTHOR_INPUT: unique symbol = Symbol.for('ferry.definition.input');

/**
 * What the author wrote: kept by `defineMigration`; a file that exports a plain object wrote that.
 * @example authorInput(require('./migrations/x').default)
 */
export function authorInput(exported: unknown): unknown {
  const kept = (exported as { [AUTHOR_INPUT]?: unknown } | null)?.[AUTHOR_INPUT];
  return kept ?? exported;
}

/**
 * The current spec hash of a definition as the author wrote it; functions count by their source.
 * @example specHash({ table: 'posts', ... }) // 'v2-3f1c…'
 */
export function specHash(input: unknown): string {
  return `v2-${sha256(input)}`;
}

/** Settings whose defaults moved into the schema after 0.1.x; version 1 hashed them only when written. */
const ADDED_DEFAULTS = [
  'targetBatchMs',
  'maxLockMs',
  'synchronousCommit',
  'minBatchSize',
  'maxBatchSize',
  'lockTimeout',
  'statementTimeout',
] as const;
const HEALTH_FIELDS = ['maxReplicaLag', 'maxBlockedBackends', 'autovacuum', 'checks'] as const;

/**
 * The version 1 hash of ferry 0.1.x: the validated definition as that release's schema produced
 * it, i.e. without the defaults added since (they appear only where the author wrote them).
 * @example legacySpecHash(input) // '7bdb13753613195f'
 */
export function legacySpecHash(input: unknown, name = 'this migration'): string {
  const written = ((input as { backfill?: Record<string, unknown> } | null)?.backfill ?? {}) as Record<string, unknown>;
  const def = validateDefinition(input, name);
  const backfill: Record<string, unknown> = { ...def.backfill };
  for (const key of ADDED_DEFAULTS) if (written[key] === undefined) delete backfill[key];
  const health = written.health as Record<string, unknown> | undefined;
  if (health === undefined) delete backfill.health;
  else backfill.health = Object.fromEntries(HEALTH_FIELDS.filter((k) => health[k] !== undefined).map((k) => [k, def.backfill.health[k]]));
  return sha256(withoutAddedTopLevel(input, { ...def, backfill }));
}

/** `after` and `verify.every` came after 0.1.x: a version 1 hash has them only where the author wrote them. */
function withoutAddedTopLevel(input: unknown, def: Record<string, unknown>): Record<string, unknown> {
  const written = (input ?? {}) as { after?: unknown; verify?: { every?: unknown } };
  const out = { ...def };
  if (written.after === undefined) delete out.after;
  if (written.verify?.every === undefined) {
    const { every: _added, ...verify } = out.verify as Record<string, unknown>;
    out.verify = verify;
  }
  return out;
}

/** Every hash a running migration of this definition may carry: the current one first. */
export function acceptedSpecHashes(input: unknown, name?: string): string[] {
  return [specHash(input), legacySpecHash(input, name)];
}

function sha256(value: unknown): string {
  const canonical = JSON.stringify(value, (_key, v) => {
    if (typeof v === 'function') return `fn:${v.toString()}`;
    if (v && typeof v === 'object' && !Array.isArray(v))
      return Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b)));
    return v;
  });
  return createHash('sha256').update(canonical).digest('hex').slice(0, 16);
}
