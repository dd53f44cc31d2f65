#!/usr/bin/env node
// Runs `npm ci` when node_modules is absent or older than package-lock.json, so the README's
// commands work from a fresh clone. Plain JavaScript: it must run before anything is installed.
const fs = require('node:fs');
const path = require('node:path');
const { execSync } = require('node:child_process');

const root = path.resolve(__dirname, '..');
const lock = path.join(root, 'package-lock.json');
const installed = path.join(root, 'node_modules', '.package-lock.json');

function isStale() {
  if (!fs.existsSync(installed)) return true;
  const want = JSON.parse(fs.readFileSync(lock, 'utf8')).packages || {};
  const have = JSON.parse(fs.readFileSync(installed, 'utf8')).packages || {};
  return Object.entries(want).some(([name, p]) => name !== '' && !p.optional && have[name]?.version !== p.version);
}

/**
 * `npm ci`, or `npm install` from the same lock when `npm ci` refuses it: npm 11 validates every
 * platform's optional binaries (@swc/core-darwin-arm64, ...) against the lock, and a registry that
 * serves only this platform's (as on ferry's build machines) can never put them in the lock.
 */
function install() {
  try {
    execSync('npm ci --no-audit --no-fund', { cwd: root, stdio: ['ignore', 'inherit', 'pipe'] });
  } catch (err) {
    const output = String(err.stderr || '');
    if (!output.includes('EUSAGE')) {
      process.stderr.write(output);
      throw err;
    }
    console.log("ferry: npm ci refused the lock (other platforms' optional packages); installing from it with npm install");
    execSync('npm install --no-audit --no-fund', { cwd: root, stdio: 'inherit' });
  }
}

if (isStale()) {
  console.log('ferry: installing dependencies (npm ci)...');
  install();
}
