import { spawn } from 'node:child_process';
import path from 'node:path';
import { cleanUpAfter, readLock } from './data-dir';
import { isRunning, type ProcessRef } from './processes';

/**
 * A small detached process that outlives its parent: when the process that started
 * the stack dies, however it dies, it stops that stack's PostgreSQL and dev server
 * and removes the lock. It ends quietly once the parent has released the directory.
 */
async function supervise(dataDir: string, parent: ProcessRef): Promise<void> {
  for (;;) {
    const lock = readLock(dataDir);
    if (!lock || lock.pid !== parent.pid || lock.startTicks !== parent.startTicks) return;
    if (!isRunning(parent)) {
      await cleanUpAfter(dataDir, parent);
      // A service spawned in the moment the parent died registers late; look once more.
      await new Promise((r) => setTimeout(r, 1_000));
      await cleanUpAfter(dataDir, parent);
      return;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Starts the supervisor for this process and the stack in `dataDir`; returns its pid. */
export function startSupervisor(dataDir: string, parent: ProcessRef): number | undefined {
  // From the sources (tests, benches) through the same swc hook the benches use; from dist/ as plain JS.
  const entry = __filename.endsWith('.ts')
    ? ['-r', path.resolve(__dirname, '..', '..', 'bench', 'register.js'), __filename]
    : [__filename];
  const child = spawn(process.execPath, [...entry, dataDir, String(parent.pid), parent.startTicks ?? ''], {
    detached: true,
    stdio: 'ignore',
    env: { PATH: process.env.PATH },
  });
  child.unref();
  return child.pid;
}

if (require.main === module) {
  const [dataDir, pid, startTicks] = process.argv.slice(2);
  if (dataDir && pid) {
    supervise(path.resolve(dataDir), { pid: Number(pid), startTicks: startTicks || undefined }).then(
      () => process.exit(0),
      () => process.exit(1),
    );
  }
}
