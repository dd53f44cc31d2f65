/**
 * Who is calling, as proven by the credentials ferry connects to Temporal with: the subject of the
 * mTLS client certificate, the subject of an API key, else the local user@host (unproven).
 *
 * What this does and does not prove: the workflow cannot see the TLS peer of a request, so the
 * identity is taken here, on the client, from the credentials it presents to the server. The
 * server checks those credentials (a certificate signed by its CA, a valid API key) before it
 * accepts the call, so ferry's CLI cannot approve as someone whose credentials it does not hold.
 * A caller who writes their own client with valid credentials could still put another name in the
 * payload; Temporal's authorizer and claim mapper, not ferry, are what limit such callers.
 */
import { X509Certificate } from 'node:crypto';
import os from 'node:os';
import { FerryError } from '../contract/errors';

/** How an identity was established. */
export type IdentityProof = 'mtls' | 'api-key' | 'none';

/** The caller's identity: `CN=alice, O=Acme` (mTLS), `api-key:<sub>` or `api-key`, else `user@host`. */
export interface CallerIdentity {
  identity: string;
  proof: IdentityProof;
}

/**
 * The subject of a PEM certificate, as `CN=alice, O=Acme` (the certificate's order).
 * @throws FerryError BAD_INPUT naming `source` when the PEM is not a certificate.
 * @example certificateSubject(fs.readFileSync('alice.pem'), 'TEMPORAL_TLS_CLIENT_CERT_PATH') // 'CN=alice'
 */
export function certificateSubject(pem: Uint8Array, source: string): string {
  try {
    return new X509Certificate(pem).subject.split('\n').join(', ');
  } catch (err) {
    throw new FerryError(
      'BAD_INPUT',
      `the client certificate of ${source} is not a PEM certificate (${(err as Error).message}); point it at the certificate ` +
        '(-----BEGIN CERTIFICATE-----), not the key.',
    );
  }
}

/**
 * The subject (`sub`) of an API key that is a JWT (Temporal Cloud's are), else undefined. Reads the
 * claims only: the server, not ferry, verifies the signature. Never returns any part of the key.
 * @example apiKeySubject('eyJhbGciOi...') // 'alice@acme.com'
 */
export function apiKeySubject(apiKey: string): string | undefined {
  const parts = apiKey.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as { sub?: unknown };
    return typeof claims.sub === 'string' && claims.sub ? claims.sub : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The identity for a connection with these credentials: the certificate subject wins over the API key.
 * @example callerIdentity({ apiKey: undefined, clientCert: undefined }) // { identity: 'alice@laptop', proof: 'none' }
 */
export function callerIdentity(creds: { clientCertSubject?: string; apiKey?: string }): CallerIdentity {
  if (creds.clientCertSubject) return { identity: creds.clientCertSubject, proof: 'mtls' };
  if (creds.apiKey) {
    const sub = apiKeySubject(creds.apiKey);
    return { identity: sub ? `api-key:${sub}` : 'api-key', proof: 'api-key' };
  }
  return { identity: `${os.userInfo().username}@${os.hostname()}`, proof: 'none' };
}
