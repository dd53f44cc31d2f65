/**
 * docker-compose.yml must describe the same stack as `ferry dev`: PostgreSQL on 5432, Temporal on
 * 7233 with the UI on 8233, and every ferry search attribute registered.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { ALL_SEARCH_ATTRIBUTES, CLI_TYPE_NAMES } from '../../src/contract/search-attributes';

const composeFile = path.join(__dirname, '..', '..', 'docker-compose.yml');

interface Service {
  image?: string;
  command?: string[];
  ports?: string[];
}
const compose = parse(fs.readFileSync(composeFile, 'utf8')) as { services: Record<string, Service> };

/** True if `docker compose` (the v2 plugin) is installed. */
function hasDockerCompose(): boolean {
  try {
    execFileSync('docker', ['compose', 'version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Host ports a service publishes (`[ip:]host:container` → host). */
function hostPorts(service: Service): number[] {
  return (service.ports ?? []).map((spec) => Number(String(spec).split(':').slice(-2)[0]));
}

(hasDockerCompose() ? test : test.skip)('`docker compose config` accepts it', () => {
  execFileSync('docker', ['compose', '-f', composeFile, 'config', '--quiet'], { stdio: 'pipe' });
});

test('postgres:15 is published on 5432', () => {
  const postgres = compose.services.postgres;
  expect(postgres.image).toMatch(/^postgres:15/);
  expect(hostPorts(postgres)).toContain(5432);
});

test('the Temporal dev server is published on 7233 with the UI on 8233', () => {
  const temporal = compose.services.temporal;
  expect(temporal.command?.slice(0, 2)).toEqual(['server', 'start-dev']);
  expect(hostPorts(temporal)).toEqual(expect.arrayContaining([7233, 8233]));
});

test('every ferry search attribute is registered with its type', () => {
  const command = compose.services.temporal.command ?? [];
  const registered = command.filter((_, i) => command[i - 1] === '--search-attribute');
  const expected = ALL_SEARCH_ATTRIBUTES.map((key) => `${key.name}=${CLI_TYPE_NAMES[key.type]}`);
  expect(registered.sort()).toEqual(expected.sort());
});
