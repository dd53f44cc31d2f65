#!/usr/bin/env node
// The `ferry` command. Migrations are TypeScript files, so the CLI runs under tsx's require hook.
require('tsx/cjs');
require('../src/cli/main.ts').run();
