/**
 * ferry's custom search attributes on a Temporal namespace: registering them (so the Web UI and
 * `temporal workflow list --query 'MigrationPhase="backfilling"'` can filter migrations), finding
 * which ones a namespace lacks, and reading a migration's attributes (from its memo where the
 * namespace lacks them).
 */
import type { ConnectionLike, WorkflowStartOptions } from '@temporalio/client';
import type { SearchAttributePair, TypedSearchAttributes } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { type Phase } from '../contract/phases';
import * as sa from '../contract/search-attributes';
import { ALL_SEARCH_ATTRIBUTES, ATTRIBUTES_MEMO, CLI_TYPE_NAMES, type AttributesMemo } from '../contract/search-attributes';
import type { FerryClient } from './connect';

const { IndexedValueType } = temporal.api.enums.v1;
/** What registering and listing search attributes needs of a connection (a client's or a worker's). */
type Operator = Pick<ConnectionLike, 'operatorService'>;
type IndexedValueType = temporal.api.enums.v1.IndexedValueType;

/** The wire type of every ferry search attribute, keyed by name. */
function wantedAttributes(): Record<string, IndexedValueType> {
  return Object.fromEntries(ALL_SEARCH_ATTRIBUTES.map((key) => [key.name, IndexedValueType[`INDEXED_VALUE_TYPE_${key.type}`]]));
}

/** The namespace's custom search attributes (name → type). */
async function listCustom(connection: Operator, namespace: string): Promise<Record<string, IndexedValueType>> {
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
export async function ensureSearchAttributes(connection: Operator, namespace: string): Promise<void> {
  const { missing, error } = await addSearchAttributes(connection, namespace);
  if (missing.length > 0) throw new Error(`${missingMessage(namespace, missing)} (adding them failed: ${error})`);
}

/** What `addSearchAttributes` left: the attributes still missing, and why adding them failed. */
export interface AddResult {
  missing: string[];
  error?: string;
}

/**
 * Adds the ferry search attributes `namespace` lacks, as many as it can: all in one call, else one
 * by one (SQL visibility has a budget per type, and a role may not be allowed to add any), and
 * returns those still missing. The worker runs it at start-up and carries on without them.
 * @throws if an attribute exists with a different type (it cannot be changed in place).
 * @example const { missing } = await addSearchAttributes(connection, 'default'); // [] once all exist
 */
export async function addSearchAttributes(connection: Operator, namespace: string): Promise<AddResult> {
  const want = wantedAttributes();
  const have = await listCustom(connection, namespace);
  const clash = conflicts(have, want);
  if (clash.length > 0) {
    throw new Error(
      `search attributes ${clash.join(', ')} in Temporal namespace "${namespace}" have the wrong type. ` +
        `Use a fresh namespace or dev-server database, or remove them with \`temporal operator search-attribute remove\`.`,
    );
  }
  const missing = Object.entries(want).filter(([name]) => !(name in have));
  if (missing.length === 0) return { missing: [] };
  let error: string | undefined;
  const add = (entries: [string, IndexedValueType][]) =>
    connection.operatorService.addSearchAttributes({ namespace, searchAttributes: Object.fromEntries(entries) }).then(
      () => true,
      (err: Error) => ((error = err.message), false),
    );
  // A racing add by another process is fine: what counts is what is registered afterwards.
  if (!(await add(missing))) for (const entry of missing) await add([entry]);
  const after = await listCustom(connection, namespace);
  const still = missing.map(([name]) => name).filter((name) => !(name in after));
  return still.length ? { missing: still, error } : { missing: [] };
}

/** The attributes ferry found missing, per client (one check per process). */
const checked = new WeakMap<FerryClient, Promise<{ missing: string[]; error?: string }>>();
/** Clients that already said that attributes are missing. */
const told = new WeakSet<FerryClient>();

/**
 * The ferry search attributes the client's namespace lacks (one ListSearchAttributes call per
 * client). When the call itself is refused, all are taken as missing: a start then sets none and
 * its workflow upserts none, which works everywhere.
 */
export async function missingSearchAttributes(fc: FerryClient): Promise<string[]> {
  return (await check(fc)).missing;
}

/** The one ListSearchAttributes call of a client: what is missing, and why listing failed if it did. */
function check(fc: FerryClient): Promise<{ missing: string[]; error?: string }> {
  let found = checked.get(fc);
  if (!found) {
    const names = ALL_SEARCH_ATTRIBUTES.map((k) => k.name);
    found = listCustom(fc.client.connection, fc.config.namespace).then(
      (have) => ({ missing: names.filter((name) => !(name in have)) }),
      (err: Error) => ({ missing: names, error: err.message }),
    );
    checked.set(fc, found);
  }
  return found;
}

/**
 * Once per client: the message that the namespace lacks ferry's search attributes, what still
 * works and how to add them; undefined when none is missing or it was said already.
 */
export async function missingNotice(fc: FerryClient): Promise<string | undefined> {
  const { missing, error } = await check(fc);
  if (missing.length === 0 || told.has(fc)) return undefined;
  told.add(fc);
  const why = error ? ` (ferry could not list them, so it uses none: ${error})` : '';
  return `${missingMessage(fc.config.namespace, missing)}${why}`;
}

/**
 * What ferry says about missing search attributes: what they cost, and the commands that add them.
 * @example missingMessage('prod', ['MigrationPhase'])
 */
export function missingMessage(namespace: string, missing: string[]): string {
  const typed = missing.map((name) => `${name}=${CLI_TYPE_NAMES[ALL_SEARCH_ATTRIBUTES.find((k) => k.name === name)?.type ?? 'KEYWORD']}`);
  const cli = typed.map((t) => `--name ${t.replace('=', ' --type ')}`);
  return (
    `Temporal namespace "${namespace}" lacks ferry's search attributes ${missing.join(', ')}: migrations run, and ferry status ` +
    "and ferry list read their phase from each migration's memo, but the Web UI cannot filter or show them as columns. " +
    `Add them with "ferry worker" started once by a role that may add search attributes, or with ` +
    `${cli.map((c) => `"temporal operator search-attribute create --namespace ${namespace} ${c}"`).join(', ')}; ` +
    `on Temporal Cloud: "tcld namespace search-attributes add --namespace ${namespace} ${typed.map((t) => `--search-attribute ${t}`).join(' ')}" ` +
    "or the namespace's page in the Cloud UI. Migrations started after that use them."
  );
}

/** A migration's attributes as ferry reads them: the search attributes, else the memo's mirror. */
export interface MigrationAttributes {
  name?: string;
  table?: string;
  phase?: Phase;
  paused: boolean;
  specHash?: string;
  contractNotBefore?: Date;
}

/**
 * Reads ferry's attributes of a workflow (a description or a listing): each search attribute, or,
 * where the namespace lacks it, the mirror in the memo (`ATTRIBUTES_MEMO`).
 * @example migrationAttributes(await handle.describe()).phase // 'backfilling'
 */
export function migrationAttributes(wf: {
  typedSearchAttributes: TypedSearchAttributes;
  memo?: Record<string, unknown>;
}): MigrationAttributes {
  const attrs = wf.typedSearchAttributes;
  const memo = (wf.memo?.[ATTRIBUTES_MEMO] ?? {}) as Partial<AttributesMemo>;
  const date = attrs.get(sa.ContractNotBefore) ?? (memo.contractNotBefore ? new Date(memo.contractNotBefore) : undefined);
  return {
    name: attrs.get(sa.MigrationName) ?? memo.name,
    table: attrs.get(sa.MigrationTable) ?? memo.table,
    phase: (attrs.get(sa.MigrationPhase) ?? memo.phase) as Phase | undefined,
    paused: attrs.get(sa.MigrationPaused) ?? memo.paused ?? false,
    specHash: attrs.get(sa.MigrationSpecHash) ?? memo.specHash,
    ...(date ? { contractNotBefore: date } : {}),
  };
}

/**
 * The start options that carry a migration's attributes: the search attributes the namespace has
 * (an unknown one makes the start fail), and their mirror in the memo when it lacks some.
 * @example await client.workflow.start(wf, { ...startAttributes(now, await missingSearchAttributes(fc)), ... })
 */
export function startAttributes(now: AttributesMemo, missing: string[]): Pick<WorkflowStartOptions, 'typedSearchAttributes' | 'memo'> {
  const pairs: SearchAttributePair[] = [
    { key: sa.MigrationName, value: now.name },
    { key: sa.MigrationTable, value: now.table },
    { key: sa.MigrationPhase, value: now.phase },
    { key: sa.MigrationPaused, value: now.paused },
    ...(now.specHash ? [{ key: sa.MigrationSpecHash, value: now.specHash }] : []),
  ];
  return {
    typedSearchAttributes: pairs.filter((p) => !missing.includes(p.key.name)),
    ...(missing.length > 0 ? { memo: { [ATTRIBUTES_MEMO]: now } } : {}),
  };
}
