import fs from 'node:fs';
import path from 'node:path';
import { isRunning, processRef, stopStackProcesses, type ProcessRef, type RecordedServices } from './processes';
import { StackError } from './stack-error';

/** What the lock file in a data directory says about its owner. */
export interface LockInfo extends ProcessRef {
  since: string;
  command: string;
  services: RecordedServices;
  supervisor?: ProcessRef;
}

export const LOCK_FILE = 'txmgr.lock';
const TAKEOVER_FILE = 'txmgr.lock.takeover';

/** A second owner of a data directory: exit code 2, like any other refusal of bad input. */
export class DataDirBusyError extends StackError {
  override name = 'DataDirBusy';
  constructor(dataDir: string, holder: LockInfo) {
    super(
      `data directory ${dataDir} is in use by pid ${holder.pid} since ${holder.since} (${holder.command})`,
      `stop that process (Ctrl-C in its terminal, or kill ${holder.pid}), or give this run another directory with --data-dir`,
      2,
    );
  }
}

export function readLock(dataDir: string): LockInfo | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(dataDir, LOCK_FILE), 'utf8')) as LockInfo;
  } catch {
    return undefined;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Runs `fn` while holding the takeover file, so that a supervisor cleaning up after
 * its dead parent and a new run taking over the directory never act at once.
 */
export async function withTakeover<T>(dataDir: string, fn: () => Promise<T>): Promise<T> {
  const file = path.join(dataDir, TAKEOVER_FILE);
  for (;;) {
    try {
      fs.writeFileSync(file, JSON.stringify(processRef(process.pid)), { flag: 'wx' });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let holder: ProcessRef | undefined;
      try {
        holder = JSON.parse(fs.readFileSync(file, 'utf8')) as ProcessRef;
      } catch {
        holder = undefined; // being written; look again
      }
      if (holder && !isRunning(holder)) fs.rmSync(file, { force: true });
      await sleep(100);
    }
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(file, { force: true });
  }
}

/** Stops what a dead owner left running and removes its lock, if the lock still names it. */
export async function cleanUpAfter(dataDir: string, owner: ProcessRef): Promise<string[]> {
  return withTakeover(dataDir, async () => {
    const lock = readLock(dataDir);
    if (!lock || lock.pid !== owner.pid || lock.startTicks !== owner.startTicks || isRunning(lock)) return [];
    const stopped = await stopStackProcesses(dataDir, lock.services ?? {});
    fs.rmSync(path.join(dataDir, LOCK_FILE), { force: true });
    return stopped;
  });
}

export interface DataDirLock {
  dataDir: string;
  info: LockInfo;
  /** Records a service's pid as soon as it is spawned, for a later clean-up. */
  record(patch: Partial<Pick<LockInfo, 'services' | 'supervisor'>>): void;
  release(): void;
}

/**
 * Makes this process the one owner of `dataDir`: refuses (DataDirBusyError) while a
 * live process holds it; takes over a lock whose owner died after stopping the
 * PostgreSQL and dev server that owner left behind.
 */
export async function acquireDataDir(
  dataDir: string,
  options: { command: string; log?: (line: string) => void },
): Promise<DataDirLock> {
  const dir = path.resolve(dataDir);
  fs.mkdirSync(dir, { recursive: true });
  const lockPath = path.join(dir, LOCK_FILE);
  const info: LockInfo = {
    ...processRef(process.pid),
    since: new Date().toISOString(),
    command: options.command,
    services: {},
  };
  const write = (target: string) => {
    const tmp = `${lockPath}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, `${JSON.stringify(info)}\n`);
    if (target === lockPath) fs.renameSync(tmp, lockPath);
    else return tmp;
    return undefined;
  };
  for (let attempt = 0; ; attempt++) {
    // Written whole elsewhere, then linked: a reader never sees half a lock, and link fails if one exists.
    const tmp = write('new')!;
    try {
      fs.linkSync(tmp, lockPath);
      fs.rmSync(tmp, { force: true });
      break;
    } catch (err) {
      fs.rmSync(tmp, { force: true });
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = readLock(dir);
    if (holder && isRunning(holder)) throw new DataDirBusyError(dir, holder);
    if (attempt > 20) throw new StackError(`could not take over the lock ${lockPath}`, 'remove it if no txmgr process runs', 1);
    if (holder) {
      options.log?.(
        `a previous run (pid ${holder.pid}, since ${holder.since}) ended without stopping; stopping what it left running`,
      );
      const stopped = await cleanUpAfter(dir, holder);
      if (stopped.length) options.log?.(`stopped ${stopped.join(', ')}`);
    } else {
      // Unreadable lock: its writer died mid-write (or it is being renamed); give it a moment.
      await sleep(200);
      if (!readLock(dir)) fs.rmSync(lockPath, { force: true });
    }
  }
  let released = false;
  return {
    dataDir: dir,
    info,
    record(patch) {
      if (released) return;
      Object.assign(info, patch, { services: { ...info.services, ...patch.services } });
      write(lockPath);
    },
    release() {
      if (released) return;
      released = true;
      if (readLock(dir)?.pid === process.pid) fs.rmSync(lockPath, { force: true });
    },
  };
}
