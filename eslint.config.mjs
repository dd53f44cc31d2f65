// ESLint flat config. Besides the usual rules it enforces the layout: each folder of src/ is one
// layer and imports only the layers below it (LAYERS), and workflow code, which Temporal bundles
// and replays, stays deterministic. See docs/architecture.md.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';
import { builtinModules } from 'node:module';

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

/**
 * What each folder of src/ may import, lowest layer first. A top-level file of src/ (config.ts,
 * metrics.ts, plan.ts, worker.ts, index.ts) counts as a layer of its own name.
 */
const LAYERS = {
  contract: [],
  pg: ['contract'],
  store: ['contract', 'pg'],
  sql: ['contract', 'pg', 'store'],
  definition: ['contract'],
  ddl: ['contract', 'pg', 'definition'],
  // store: the latency budget's commit probe writes ferry.latency_probes (src/store/latency-probes.ts).
  health: ['contract', 'pg', 'store', 'definition'],
  engine: ['contract', 'pg', 'store', 'sql', 'definition', 'health'],
  workflows: ['contract'],
  activities: ['contract', 'pg', 'store', 'sql', 'definition', 'ddl', 'health', 'engine', 'metrics'],
  client: ['contract', 'definition', 'pg', 'config'],
  // ferry/typeorm: TypeORM migration classes, the connection from a DataSource, generate, dual-write subscribers.
  typeorm: ['contract', 'definition', 'client', 'config', 'pg'],
  cli: ['contract', 'pg', 'store', 'definition', 'ddl', 'client', 'config', 'plan', 'worker', 'typeorm'],
};
const TOP_FILES = {
  config: ['contract'],
  metrics: ['contract', 'health'],
  plan: ['contract', 'pg', 'sql', 'definition', 'ddl'],
  index: ['contract', 'definition'],
  worker: ['contract', 'pg', 'store', 'definition', 'activities', 'client', 'config', 'metrics', 'typeorm'],
};

const alternatives = (names) => names.map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|');

/** A pattern that refuses `prefix<name>` for any name not in `allowed`. */
function onlyFrom(prefix, allowed, what) {
  const escaped = prefix.replace(/\./g, '\\.').replace(/\//g, '\\/');
  const regex = allowed.length ? `^${escaped}(?!\\.)(?!(${alternatives(allowed)})(\\/|$))` : `^${escaped}(?!\\.)`;
  const outside = prefix === '../../' || (prefix === '../' && what.endsWith('.ts'));
  const may = outside
    ? allowed.length
      ? `only ${allowed.join(', ')} from outside src/`
      : 'nothing from outside src/'
    : `only ${allowed.join(', ') || "nothing of ferry's"}`;
  return { regex, message: `${what} may import ${may} (see LAYERS in eslint.config.mjs).` };
}

const layerBlocks = [
  ...Object.entries(LAYERS).map(([folder, allowed]) => ({
    files: [`src/${folder}/**/*.ts`],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            onlyFrom('../', allowed, `src/${folder}/`),
            // Out of src/: only the CLI's `ferry dev` reaches the dev stack.
            folder === 'cli' ? onlyFrom('../../', ['devstack'], 'src/cli/') : onlyFrom('../../', [], `src/${folder}/`),
            ...(folder === 'engine'
              ? [{ group: ['@temporalio/*'], message: 'The engine has no Temporal import: it gets a port (src/engine/port.ts).' }]
              : []),
          ],
        },
      ],
    },
  })),
  ...Object.entries(TOP_FILES).map(([file, allowed]) => ({
    files: [`src/${file}.ts`],
    rules: {
      'no-restricted-imports': ['error', { patterns: [onlyFrom('./', allowed, `src/${file}.ts`), onlyFrom('../', [], `src/${file}.ts`)] }],
    },
  })),
];

/** Workflow code (and the contract it bundles) must be deterministic. */
const deterministic = {
  files: ['src/workflows/**/*.ts', 'src/contract/**/*.ts'],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        paths: [
          ...nodeBuiltins.map((name) => ({ name, message: 'Workflow code must be deterministic: no Node built-ins.' })),
          { name: 'pg', message: 'Workflow code must not touch the database; use an activity.' },
          { name: 'typeorm', message: 'Workflow code must not touch the database; use an activity.' },
        ],
        patterns: [
          { group: ['pg/*', 'typeorm/*'], message: 'Workflow code must not touch the database; use an activity.' },
          onlyFrom('../', ['contract'], 'src/workflows/ and src/contract/'),
          onlyFrom('../../', [], 'src/workflows/ and src/contract/'),
        ],
      },
    ],
    'no-restricted-globals': [
      'error',
      { name: 'setTimeout', message: 'Use sleep() from @temporalio/workflow.' },
      { name: 'process', message: 'No process in workflow code.' },
    ],
  },
};

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', '.ferry/', 'coverage/', 'bench-results/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-require-imports': 'off',
    },
  },
  ...layerBlocks,
  deterministic,
);
