/**
 * A throw-away certificate authority made with `openssl` at run time, for a Temporal server with
 * mutual TLS: a CA, a server certificate for 127.0.0.1 / localhost, and client certificates on
 * demand. EC P-256 keys (quick to make); every certificate has the extensions that rustls (the
 * worker's TLS) and Go (the server's) check: CA:FALSE on leaves, serverAuth / clientAuth usage, SANs.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/** A certificate and its private key, PEM files. */
export interface CertPair {
  certPath: string;
  keyPath: string;
}

/** A CA in a directory, issuing certificates into it. */
export interface CertificateAuthority {
  caCertPath: string;
  /** The server certificate: SAN `DNS:localhost, IP:127.0.0.1`. */
  issueServerCert(): CertPair;
  /** A client certificate whose subject is `CN=<cn>` (letters, digits, space and `._@-` only); issued once per name. */
  issueClientCert(cn: string): CertPair;
}

const DAYS = '7';

/** One config for every certificate; `-extensions` picks the section. */
const OPENSSL_CONFIG = `[req]
distinguished_name = dn
prompt = no
[dn]
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[client_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
`;

/** Runs openssl; its error output becomes the error's message. */
function openssl(args: string[]): void {
  try {
    execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as Error & { stderr?: Buffer; code?: string };
    if (e.code === 'ENOENT') {
      throw new Error(
        '"openssl" is not installed; the mTLS tests make their certificates with it. Install it (`apt-get install openssl`).',
      );
    }
    throw new Error(`"openssl ${args.join(' ')}" failed: ${e.stderr?.toString() || e.message}`);
  }
}

/** File-name-safe form of a common name. */
function fileStem(cn: string): string {
  return `${cn.replace(/[^A-Za-z0-9._-]/g, '_')}-${createHash('sha256').update(cn).digest('hex').slice(0, 8)}`;
}

/**
 * Creates a CA (key and self-signed certificate) in `dir` (created if missing).
 *
 * @example
 * const ca = createCertificateAuthority('/tmp/ferry-prod/certs');
 * const server = ca.issueServerCert();
 * const alice = ca.issueClientCert('alice');
 */
export function createCertificateAuthority(dir: string): CertificateAuthority {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const config = path.join(dir, 'openssl.cnf');
  fs.writeFileSync(config, OPENSSL_CONFIG);
  const caCertPath = path.join(dir, 'ca.pem');
  const caKeyPath = path.join(dir, 'ca.key');
  const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-noenc', '-days', DAYS];
  openssl([
    'req',
    '-x509',
    '-config',
    config,
    '-extensions',
    'ca_ext',
    ...newKey,
    '-subj',
    '/CN=ferry test CA',
    '-keyout',
    caKeyPath,
    '-out',
    caCertPath,
  ]);

  const issue = (stem: string, subject: string, extensions: string): CertPair => {
    const pair = { certPath: path.join(dir, `${stem}.pem`), keyPath: path.join(dir, `${stem}.key`) };
    if (fs.existsSync(pair.certPath)) return pair; // issued once per name: files in use are never rewritten
    const signing = ['-CA', caCertPath, '-CAkey', caKeyPath, '-extensions', extensions];
    openssl(['req', '-x509', '-config', config, ...signing, ...newKey, '-subj', subject, '-keyout', pair.keyPath, '-out', pair.certPath]);
    return pair;
  };
  return {
    caCertPath,
    issueServerCert: () => issue('server', '/CN=localhost', 'server_ext'),
    issueClientCert: (cn) => {
      if (!/^[A-Za-z0-9 ._@-]{1,64}$/.test(cn)) {
        throw new Error(
          `client certificate name "${cn}" has characters a subject cannot carry as is; use letters, digits, space and ._@- only.`,
        );
      }
      return issue(`client-${fileStem(cn)}`, `/CN=${cn}`, 'client_ext');
    },
  };
}
