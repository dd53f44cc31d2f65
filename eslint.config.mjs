// ESLint flat config. Workflow code is bundled and replayed by Temporal, so it must stay
// deterministic: no Node built-ins, no database clients, no imports from src/ runtime modules.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';
import { builtinModules } from 'node:module';

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

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
  {
    files: ['src/workflows/**/*.ts'],
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
            { group: ['../src/*', '../activities/*'], allowTypeImports: true, message: 'Workflows import only types from src/ and activities/.' },
          ],
        },
      ],
      'no-restricted-globals': ['error', { name: 'setTimeout', message: 'Use sleep() from @temporalio/workflow.' }, { name: 'process', message: 'No process in workflow code.' }],
    },
  },
  {
    // The backfill engine runs and is tested without Temporal: what it needs of its host comes
    // through EnginePort (src/engine/port.ts); src/activities/backfill.ts builds one from the activity.
    files: ['src/engine/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@temporalio/*'],
              message: 'The engine imports nothing of Temporal; take heartbeat, sleep, cancellation and log from EnginePort (src/engine/port.ts).',
            },
            { group: ['../activities/*', '../workflows/*'], message: 'The engine sits below the activities and workflows; it must not import them.' },
          ],
        },
      ],
    },
  },
);
