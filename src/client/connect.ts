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
 * @throws FerryError UNAVAILABLE: the server at that address is unreachable; running migrations
 *   are safe (their state is in Temporal and PostgreSQL) and workers reconnect by themselves.
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
 * The one message for a Temporal server that did not answer: which address and where it comes
 * from, that nothing is lost, and what to do (the CLI and `ferry worker` both use it).
 * @example throw temporalUnavailable('localhost:7233', err)
 */
export function temporalUnavailable(address: string, err: unknown): FerryError {
  return new FerryError('UNAVAILABLE', unreachableMessage(address, (err as Error).message));
}

/**
 * What ferry says when the Temporal server does not answer: which address, that nothing is lost,
 * and what to do.
 * @example unreachableMessage('127.0.0.1:7233', 'Failed to connect before the deadline')
 */
export function unreachableMessage(address: string, cause: string): string {
  return (
    `the Temporal server at "${address}" (TEMPORAL_ADDRESS) is unreachable: ${cause}. ` +
    'Running migrations are not lost: their state is kept by Temporal and their checkpoints by PostgreSQL, and ' +
    'ferry workers reconnect by themselves and carry on once the server is back (nothing to restart). ' +
    'Check that the server is up and reachable at that address, or set TEMPORAL_ADDRESS; for a local stack run "ferry dev".'
  );
}
