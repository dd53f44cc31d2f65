/** Throw-away certificates for the connection tests, made with the openssl CLI. */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** A directory with `<name>.pem` (certificate) and `<name>.key` for each subject, self-signed. */
export function selfSignedCerts(subjects: Record<string, string>): { dir: string; cert(name: string): string; key(name: string): string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-certs-'));
  for (const [name, subject] of Object.entries(subjects)) {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '1',
        '-subj',
        subject,
        '-keyout',
        path.join(dir, `${name}.key`),
        '-out',
        path.join(dir, `${name}.pem`),
      ],
      { stdio: 'ignore' },
    );
  }
  return { dir, cert: (name) => path.join(dir, `${name}.pem`), key: (name) => path.join(dir, `${name}.key`) };
}
