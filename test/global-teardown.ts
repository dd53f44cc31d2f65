/** jest globalTeardown: stops only what test/global-setup.ts started; reused servers stay up. */
import { heldStack } from './global-setup';

/** Stops the Stack held by globalSetup. */
export default async function globalTeardown(): Promise<void> {
  await heldStack()?.stop();
}
