/** Where Web UI links point (webUiBase in src/config.ts): FERRY_UI_URL, Temporal Cloud, ferry dev's record, local default. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { recordDevServer, webUiBase } from '../src/config';
import { webUiUrl } from '../src/cli/output';

const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-ui-')), '.ferry', 'dev-server.json');

test('FERRY_UI_URL wins, without a trailing slash', () => {
  expect(webUiBase('temporal.internal:7233', { FERRY_UI_URL: 'https://ui.example.com/' }, file)).toBe('https://ui.example.com');
});

test('Temporal Cloud addresses link Temporal Cloud', () => {
  const base = webUiBase('acme.a1b2c.tmprl.cloud:7233', {}, file);
  expect(base).toBe('https://cloud.temporal.io');
  expect(webUiUrl('acme.a1b2c', 'migration/x', base)).toBe('https://cloud.temporal.io/namespaces/acme.a1b2c/workflows/migration%2Fx');
});

test('a remote server without FERRY_UI_URL: no link rather than a wrong one', () => {
  expect(webUiBase('temporal.internal:7233', {}, file)).toBeUndefined();
});

test('the dev server ferry dev started: its UI port; a local server on 7233: the default 8233; on another port: no link', () => {
  expect(webUiBase('127.0.0.1:7233', {}, file)).toBe('http://127.0.0.1:8233');
  recordDevServer({ address: '127.0.0.1:7233', uiUrl: 'http://127.0.0.1:8310' }, file);
  expect(webUiBase('localhost:7233', {}, file)).toBe('http://127.0.0.1:8310');
  expect(webUiBase('localhost:7300', {}, file)).toBeUndefined();
  recordDevServer(undefined, file);
  expect(webUiBase('localhost:7233', {}, file)).toBe('http://localhost:8233');
});
