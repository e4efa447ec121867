import fs from 'node:fs';
import path from 'node:path';

/** Every service the stack starts carries this variable, so its processes can be found again after a crash. */
export const STACK_MARKER = 'TXMGR_STACK_DIR';

export interface ProcessRef {
  pid: number;
  /** Start time in clock ticks from /proc, so a reused pid is never taken for ours. */
  startTicks?: string;
}

interface ProcInfo {
  state: string;
  ppid: number;
  startTicks: string;
}

const hasProc = (() => {
  try {
    return fs.existsSync('/proc/self/stat');
  } catch {
    return false;
  }
})();

function procInfo(pid: number): ProcInfo | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces and parentheses; the fields follow the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0] ?? '', ppid: Number(fields[1]), startTicks: fields[19] ?? '' };
  } catch {
    return undefined;
  }
}

export function processRef(pid: number): ProcessRef {
  return { pid, startTicks: procInfo(pid)?.startTicks };
}

/** True while `ref` runs (zombies count as ended; a pid reused by another program does not count). */
export function isRunning(ref: ProcessRef | undefined): boolean {
  if (!ref || !(ref.pid > 0)) return false;
  if (!hasProc) {
    try {
      process.kill(ref.pid, 0);
      return true;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'EPERM';
    }
  }
  const info = procInfo(ref.pid);
  if (!info || info.state === 'Z' || info.state === 'X') return false;
  return !ref.startTicks || info.startTicks === ref.startTicks;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function waitForExit(ref: ProcessRef, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isRunning(ref)) {
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
  return true;
}

function signal(ref: ProcessRef, sig: NodeJS.Signals): void {
  if (!isRunning(ref)) return;
  try {
    process.kill(ref.pid, sig);
  } catch {
    // ended meanwhile
  }
}

/**
 * Stops a process politely, then firmly. PostgreSQL gets SIGINT (fast shutdown) and
 * then SIGQUIT (immediate shutdown, recovered at the next start); never its files.
 */
export async function stopProcess(
  ref: ProcessRef,
  kind: 'postgres' | 'other',
  timeoutMs = kind === 'postgres' ? 60_000 : 10_000,
): Promise<boolean> {
  if (!isRunning(ref)) return false;
  signal(ref, kind === 'postgres' ? 'SIGINT' : 'SIGTERM');
  if (await waitForExit(ref, timeoutMs)) return true;
  signal(ref, kind === 'postgres' ? 'SIGQUIT' : 'SIGKILL');
  await waitForExit(ref, 10_000);
  return true;
}

function readText(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** Processes (Linux) whose environment marks them as services of the stack in `dataDir`. */
export function markedProcesses(dataDir: string): Array<ProcessRef & { command: string }> {
  if (!hasProc) return [];
  const needle = `${STACK_MARKER}=${path.resolve(dataDir)}\0`;
  const found: Array<ProcessRef & { command: string }> = [];
  for (const entry of fs.readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    const env = readText(`/proc/${pid}/environ`);
    if (!env || !`${env}\0`.includes(needle)) continue;
    const info = procInfo(pid);
    if (!info || info.state === 'Z') continue;
    const command = (readText(`/proc/${pid}/cmdline`) ?? '').split('\0').filter(Boolean).join(' ');
    found.push({ pid, startTicks: info.startTicks, command });
  }
  return found;
}

/** The postmaster named by a cluster's postmaster.pid, when one runs. */
export function postmasterOf(pgDataDir: string): ProcessRef | undefined {
  const pid = Number((readText(path.join(pgDataDir, 'postmaster.pid')) ?? '').split('\n')[0]);
  if (!(pid > 0)) return undefined;
  const ref = processRef(pid);
  return isRunning(ref) ? ref : undefined;
}

export interface RecordedServices {
  postgres?: ProcessRef;
  temporal?: ProcessRef;
}

/**
 * Stops whatever a stack in `dataDir` left running: the recorded dev server, the
 * cluster's postmaster, then any other process carrying the stack's marker.
 * Returns a description of each process it stopped.
 */
export async function stopStackProcesses(dataDir: string, recorded: RecordedServices): Promise<string[]> {
  const stopped: string[] = [];
  if (await stopProcess(recorded.temporal ?? { pid: 0 }, 'other'))
    stopped.push(`the Temporal dev server (pid ${recorded.temporal?.pid})`);
  const pgDir = path.join(path.resolve(dataDir), 'postgres');
  for (const pg of [recorded.postgres, postmasterOf(pgDir)]) {
    if (pg && (await stopProcess(pg, 'postgres'))) stopped.push(`PostgreSQL (pid ${pg.pid})`);
  }
  // Anything started but not yet recorded when its owner died. PostgreSQL's own children
  // end with their postmaster, so give them a moment before looking.
  let rest = markedProcesses(dataDir);
  if (rest.length) {
    await sleep(500);
    rest = markedProcesses(dataDir);
  }
  for (const p of rest) {
    const isPostmaster = /\bpostgres\b.* -D /.test(p.command);
    if (await stopProcess(p, isPostmaster ? 'postgres' : 'other'))
      stopped.push(`${isPostmaster ? 'PostgreSQL' : p.command.split(' ')[0]} (pid ${p.pid})`);
  }
  return stopped;
}
