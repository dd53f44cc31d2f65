/**
 * ferry's custom search attributes: what the Temporal Web UI and `temporal workflow list --query`
 * filter migrations by. Registered on the dev server with `--search-attribute Name=Type` and on an
 * existing server by `ensureSearchAttributes` (src/client/search-attributes.ts). A namespace may
 * lack them (SQL visibility allows 10 Keyword and 3 of each other type; a Temporal Cloud role may
 * not add them): a migration started there mirrors them in its memo (`ATTRIBUTES_MEMO`), and its
 * workflow upserts only those that exist (`MigrationInput.missingSearchAttributes`).
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const MigrationName = defineSearchAttributeKey('MigrationName', SearchAttributeType.KEYWORD);
export const MigrationTable = defineSearchAttributeKey('MigrationTable', SearchAttributeType.KEYWORD);
export const MigrationPhase = defineSearchAttributeKey('MigrationPhase', SearchAttributeType.KEYWORD);
export const MigrationPaused = defineSearchAttributeKey('MigrationPaused', SearchAttributeType.BOOL);
export const MigrationSpecHash = defineSearchAttributeKey('MigrationSpecHash', SearchAttributeType.KEYWORD);
export const ContractNotBefore = defineSearchAttributeKey('ContractNotBefore', SearchAttributeType.DATETIME);

/** Every key, in the order they are registered. */
export const ALL_SEARCH_ATTRIBUTES = [
  MigrationName,
  MigrationTable,
  MigrationPhase,
  MigrationPaused,
  MigrationSpecHash,
  ContractNotBefore,
] as const;

/** Spelling of each type for `temporal server start-dev --search-attribute Name=Type` and docker-compose. */
export const CLI_TYPE_NAMES: Record<string, string> = {
  KEYWORD: 'Keyword',
  BOOL: 'Bool',
  DATETIME: 'Datetime',
  INT: 'Int',
  DOUBLE: 'Double',
  TEXT: 'Text',
  KEYWORD_LIST: 'KeywordList',
};

/**
 * The memo key that mirrors ferry's search attributes for a migration started in a namespace that
 * lacks some of them: `ferry status`, `ferry list` and the Web UI's memo read them there instead.
 */
export const ATTRIBUTES_MEMO = 'ferryMigration';

/** The mirror kept under `ATTRIBUTES_MEMO` (names and the phase; never row data). */
export interface AttributesMemo {
  name: string;
  table: string;
  specHash: string;
  phase: string;
  paused: boolean;
  /** ISO time, as `ContractNotBefore`. */
  contractNotBefore?: string;
}
