import fs from 'node:fs';
import type { Stack } from '../../src/infra/stack';

export default async function globalTeardown(): Promise<void> {
  const g = globalThis as { __txmgrStack?: Stack; __txmgrDataDir?: string };
  await g.__txmgrStack?.stop();
  // Databases of failed tests are kept only while the run lives; set TXMGR_KEEP_TEST_DATA=1 to keep the cluster too.
  if (g.__txmgrDataDir && process.env.TXMGR_KEEP_TEST_DATA !== '1') fs.rmSync(g.__txmgrDataDir, { recursive: true, force: true });
}
