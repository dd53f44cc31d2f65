#!/usr/bin/env node
// The `ferry` command. Installed from npm it runs the compiled dist/ (built by `npm pack`'s
// prepack, scripts/build.ts). In a checkout of the repository, where src/ sits beside bin/, it
// runs the TypeScript source under tsx's require hook, so the tests run what is being edited.
const fs = require('node:fs');
const path = require('node:path');

const source = path.join(__dirname, '..', 'src', 'cli', 'main.ts');
const compiled = path.join(__dirname, '..', 'dist', 'cli', 'main.js');

if (fs.existsSync(source)) {
  try {
    require('tsx/cjs');
  } catch (err) {
    if (err && err.code === 'MODULE_NOT_FOUND' && String(err.message).includes('tsx')) {
      console.error('ferry: its dependencies are not installed (tsx is missing); run "npm install" (or "npm ci") first.');
      process.exit(1);
    }
    throw err;
  }
  require(source).run();
} else if (fs.existsSync(compiled)) {
  require(compiled).run();
} else {
  console.error(`ferry: neither ${source} nor ${compiled} exists; reinstall ferry (or run "npm run build" in its repository).`);
  process.exit(1);
}
