import { Client, Connection } from '@temporalio/client';
import { FerryError } from '../contract/errors';
import { loadConfig, type FerryConfig } from '../config';

/** A Temporal client for ferry's commands. */
export interface FerryClient {
  client: Client;
  config: FerryConfig;
  close(): Promise<void>;
}

/**
 * Connects to Temporal at `TEMPORAL_ADDRESS`.
 * @throws FerryError UNAVAILABLE with the address and how to start a server.
 */
export async function connectClient(config: FerryConfig = loadConfig()): Promise<FerryClient> {
  let connection: Connection;
  try {
    connection = await Connection.connect({ address: config.address, connectTimeout: '5s' });
  } catch (err) {
    throw temporalUnavailable(config.address, err);
  }
  const client = new Client({ connection, namespace: config.namespace });
  return { client, config, close: () => connection.close() };
}

/**
 * The one message for a Temporal server that did not answer: its address, where the address comes
 * from and what to do next (the CLI and `ferry worker` both use it).
 * @example throw temporalUnavailable('localhost:7233', err)
 */
export function temporalUnavailable(address: string, err: unknown): FerryError {
  return new FerryError(
    'UNAVAILABLE',
    `Temporal at "${address}" (TEMPORAL_ADDRESS) did not answer (${(err as Error).message}); start one with "ferry dev" or set TEMPORAL_ADDRESS.`,
  );
}
