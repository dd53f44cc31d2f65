/**
 * Spec hashes: version 2 hashes what the author wrote; version 1 (ferry 0.1.x) is still computed
 * for migrations started before the upgrade. The version 1 values below were printed by main at
 * 5637bca (before defaults moved into the schema) for these exact definitions.
 */
import { defineMigration, validateDefinition } from '../../src/definition/define';
import { acceptsSpecHash, type LoadedMigration } from '../../src/definition/registry';
import { acceptedSpecHashes, authorInput, legacySpecHash, specHash } from '../../src/definition/spec-hash';

const minimal = { table: 't', expand: { up: 'a', down: 'b' }, backfill: { where: 'x', set: 'y' }, contract: { up: 'c' } };
const tuned = {
  table: 't',
  expand: { up: 'a', down: 'b' },
  backfill: {
    where: 'x',
    set: 'y',
    targetBatchMs: 300,
    minBatchSize: 5,
    lockTimeout: '1s',
    health: { maxReplicaLag: '10s', checks: [{ name: 'c', sql: 'SELECT true' }] },
  },
  contract: { up: 'c' },
};
const trigger = {
  table: '"S"."T"',
  key: ['id'],
  expand: { up: ['a', 'a2'], down: 'b' },
  dualWrite: { by: 'trigger', body: 'NEW.x := 1;' },
  backfill: {
    where: ' x ',
    set: 'y',
    batchSize: 50,
    pause: '10ms',
    concurrency: 2,
    deadline: '1h',
    maxFailedRows: 3,
    rateLimit: { perSecond: 5 },
    health: { autovacuum: false },
  },
  verify: { where: 'z' },
  contract: { up: 'c', after: '1d', approval: false },
};

test.each([
  ['minimal', minimal, '10f7cce602f828bf'],
  ['tuned', tuned, 'fca0def62c0a17f8'],
  ['trigger', trigger, '4d6cb478e904a240'],
])('the version 1 hash of %s is what ferry 0.1.x computed', (_name, input, v1) => {
  expect(legacySpecHash(input)).toBe(v1);
});

test('version 2 hashes what the author wrote: schema defaults do not enter it', () => {
  expect(specHash(minimal)).toMatch(/^v2-[0-9a-f]{16}$/);
  expect(specHash(minimal)).toBe(specHash(JSON.parse(JSON.stringify(minimal))));
  expect(specHash(minimal)).not.toBe(specHash({ ...minimal, backfill: { ...minimal.backfill, targetBatchMs: 200 } }));
  expect(specHash(minimal)).not.toBe(specHash(validateDefinition(minimal, 'm')));
});

test('defineMigration keeps what the author wrote, hidden from validation and JSON', () => {
  const defined = defineMigration(tuned as Parameters<typeof defineMigration>[0]);
  expect(authorInput(defined)).toBe(tuned);
  expect(JSON.stringify(defined)).not.toContain('ferry.definition.input');
  expect(validateDefinition(defined, 'again')).toEqual(defined);
});

test('a loaded migration accepts both hashes of its definition and no other', () => {
  const [current, ...earlier] = acceptedSpecHashes(trigger);
  const m: LoadedMigration = {
    name: 'm',
    file: 'm.ts',
    definition: validateDefinition(trigger, 'm'),
    specHash: current,
    acceptedSpecHashes: earlier,
  };
  expect(acceptsSpecHash(m, current)).toBe(true);
  expect(acceptsSpecHash(m, '4d6cb478e904a240')).toBe(true);
  expect(acceptsSpecHash(m, legacySpecHash(minimal))).toBe(false);
  expect(acceptsSpecHash(m, specHash(minimal))).toBe(false);
});

test('the schema fills every default in one place', () => {
  const d = validateDefinition(minimal, 'm');
  expect(d.backfill).toMatchObject({
    batchSize: 1000,
    targetBatchMs: 200,
    minBatchSize: 10,
    maxBatchSize: 50_000,
    lockTimeout: '2s',
    statementTimeout: '5000ms',
  });
  expect(d.backfill.health).toEqual({ maxReplicaLag: '5s', maxBlockedBackends: 0, autovacuum: true, checks: [] });
  expect(
    validateDefinition({ ...minimal, backfill: { ...minimal.backfill, batchSize: 5, targetBatchMs: 1000 } }, 'm').backfill,
  ).toMatchObject({
    minBatchSize: 5,
    statementTimeout: '10000ms',
  });
});
