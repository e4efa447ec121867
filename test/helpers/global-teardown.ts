import type { Stack } from '../../src/infra/stack';

export default async function globalTeardown(): Promise<void> {
  await (globalThis as { __txmgrStack?: Stack }).__txmgrStack?.stop();
}
