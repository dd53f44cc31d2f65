/**
 * Registers ferry's custom search attributes on a Temporal namespace, so the Web UI and
 * `temporal workflow list --query 'MigrationPhase="BACKFILL"'` can filter migrations.
 */
import type { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { ALL_SEARCH_ATTRIBUTES } from '../contract/search-attributes';

const { IndexedValueType } = temporal.api.enums.v1;
type IndexedValueType = temporal.api.enums.v1.IndexedValueType;

/** The wire type of every ferry search attribute, keyed by name. */
function wantedAttributes(): Record<string, IndexedValueType> {
  return Object.fromEntries(ALL_SEARCH_ATTRIBUTES.map((key) => [key.name, IndexedValueType[`INDEXED_VALUE_TYPE_${key.type}`]]));
}

/** The namespace's custom search attributes (name → type). */
async function listCustom(connection: Connection, namespace: string): Promise<Record<string, IndexedValueType>> {
  const res = await connection.operatorService.listSearchAttributes({ namespace });
  return res.customAttributes ?? {};
}

/** Names whose registered type differs from the wanted one, as readable `Name (has X, wants Y)` strings. */
function conflicts(have: Record<string, IndexedValueType>, want: Record<string, IndexedValueType>): string[] {
  return Object.entries(want)
    .filter(([name, type]) => name in have && have[name] !== type)
    .map(([name, type]) => `"${name}" (has ${IndexedValueType[have[name]]}, ferry needs ${IndexedValueType[type]})`);
}

/**
 * Makes sure every key of `ALL_SEARCH_ATTRIBUTES` is registered on `namespace`, adding the missing
 * ones through the operator service. Idempotent and safe to call concurrently: a racing add by
 * another process is accepted as long as the attributes end up registered.
 *
 * @throws if an attribute exists with a different type (it cannot be changed in place).
 * @example
 * const connection = await Connection.connect({ address: 'localhost:7233' });
 * await ensureSearchAttributes(connection, 'default');
 */
export async function ensureSearchAttributes(connection: Connection, namespace: string): Promise<void> {
  const want = wantedAttributes();
  const have = await listCustom(connection, namespace);
  const clash = conflicts(have, want);
  if (clash.length > 0) {
    throw new Error(
      `search attributes ${clash.join(', ')} in Temporal namespace "${namespace}" have the wrong type. ` +
        `Use a fresh namespace or dev-server database, or remove them with \`temporal operator search-attribute remove\`.`,
    );
  }
  const missing = Object.fromEntries(Object.entries(want).filter(([name]) => !(name in have)));
  if (Object.keys(missing).length === 0) return;
  try {
    await connection.operatorService.addSearchAttributes({ namespace, searchAttributes: missing });
  } catch (err) {
    const after = await listCustom(connection, namespace);
    if (Object.keys(missing).some((name) => !(name in after))) throw err;
  }
}
