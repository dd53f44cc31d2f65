/**
 * A stand-in for the vendor API of seed 000, on 127.0.0.1 and a free port: `GET /vendors/<id>`
 * answers `{ "uuid": ... }` (the same uuid for the same id, every time) or 404 for ids it does not
 * know, and records every request with the time it arrived.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request the vendor received. */
export interface VendorRequest {
  id: string;
  /** `Date.now()` when it arrived. */
  at: number;
  status: number;
}

/** A running vendor server. */
export interface VendorServer {
  /** Base URL, e.g. `http://127.0.0.1:41234`: the worker's `VENDOR_API_URL`. */
  url: string;
  /** Every request so far, in arrival order. */
  requests: VendorRequest[];
  close(): Promise<void>;
}

/**
 * The vendor's uuid for a legacy id: md5 of `vendor-<id>` in uuid form, so SQL can check it as
 * `md5('vendor-' || id)::uuid`.
 * @example vendorUuid(7) // 'fcd227c4-0491-d71f-bc5a-5f9e254e1c6e', as md5('vendor-7')::uuid in SQL
 */
export function vendorUuid(id: string | number): string {
  const hex = createHash('md5').update(`vendor-${id}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * Starts the vendor; `known(id)` says which legacy ids it maps (the others answer 404).
 * @example
 * const vendor = await startVendorServer((id) => Number(id) % 97 !== 0);
 * await h.startWorker({ VENDOR_API_URL: vendor.url });
 * afterAll(() => vendor.close());
 */
export async function startVendorServer(known: (id: string) => boolean): Promise<VendorServer> {
  const requests: VendorRequest[] = [];
  const server = http.createServer((req, res) => {
    const match = /^\/vendors\/([^/?]+)$/.exec(req.url ?? '');
    const id = match ? decodeURIComponent(match[1]) : '';
    const status = req.method === 'GET' && match && known(id) ? 200 : 404;
    requests.push({ id, at: Date.now(), status });
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(status === 200 ? { uuid: vendorUuid(id) } : { error: 'unknown vendor id' }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * The most requests that arrived within any `windowMs` (sliding: each window starts at a request).
 * @example peakRequests([0, 10, 990, 1000, 2500].map((at) => ({ id: '1', at, status: 200 }))) // 3
 */
export function peakRequests(requests: VendorRequest[], windowMs = 1000): number {
  const times = requests.map((r) => r.at).sort((a, b) => a - b);
  let peak = 0;
  for (let start = 0, end = 0; start < times.length; start++) {
    while (end < times.length && times[end] < times[start] + windowMs) end++;
    peak = Math.max(peak, end - start);
  }
  return peak;
}
