#!/usr/bin/env node
// The `ferry` command. Migrations are TypeScript files, so the CLI runs under tsx's require hook.
try {
  require('tsx/cjs');
} catch (err) {
  if (err && err.code === 'MODULE_NOT_FOUND' && String(err.message).includes('tsx')) {
    console.error('ferry: its dependencies are not installed (tsx is missing); run "npm install" (or "npm ci") first.');
    process.exit(1);
  }
  throw err;
}
require('../src/cli/main.ts').run();
