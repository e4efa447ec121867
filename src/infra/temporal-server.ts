import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { Connection } from '@temporalio/client';
import { tailOf } from './embedded-postgres';
import { isRunning, processRef, STACK_MARKER, stopProcess, type ProcessRef } from './processes';
import { StackError } from './stack-error';

/**
 * Task queue priority (the 2pc's decide and commit go before other work, workflows/transaction-2pc.ts)
 * takes effect with the server's newer matcher; with one partition a task queue is one ordered queue.
 * A cluster of your own gets the same from its dynamic config.
 */
export const PRIORITY_MATCHING: Readonly<Record<string, boolean | number>> = {
  'matching.useNewMatcher': true,
  'matching.numTaskqueueReadPartitions': 1,
  'matching.numTaskqueueWritePartitions': 1,
};

export interface DevServer {
  address: string;
  pid: number;
  stop(): Promise<void>;
}

/**
 * Runs `temporal server start-dev` in its own process group, output in `logFile`, and
 * waits until its frontend answers. `onSpawn` learns the pid before it is ready.
 */
export async function startTemporalDevServer(o: {
  cliPath: string;
  port: number;
  uiPort?: number;
  namespace: string;
  dbFile?: string;
  searchAttributes: ReadonlyArray<{ name: string; type: string }>;
  /** Server settings (`--dynamic-config-value key=value`); default none. */
  dynamicConfig?: Readonly<Record<string, string | number | boolean>>;
  logFile: string;
  marker: string;
  onSpawn?: (ref: ProcessRef) => void;
  stopping?: () => boolean;
}): Promise<DevServer> {
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(o.port), '--namespace', o.namespace];
  args.push(...(o.uiPort ? ['--ui-port', String(o.uiPort), '--ui-disable-news-fetch'] : ['--headless']));
  if (o.dbFile) args.push('--db-filename', o.dbFile);
  for (const sa of o.searchAttributes) args.push('--search-attribute', `${sa.name}=${sa.type}`);
  for (const [key, value] of Object.entries(o.dynamicConfig ?? {}))
    args.push('--dynamic-config-value', `${key}=${JSON.stringify(value)}`);
  args.push('--log-format', 'json', '--log-level', 'error');
  const out = fs.openSync(o.logFile, 'a');
  const child = spawn(o.cliPath, args, {
    detached: true,
    stdio: ['ignore', out, out],
    env: { ...process.env, [STACK_MARKER]: o.marker },
  });
  fs.closeSync(out);
  let exit: string | undefined;
  child.on('exit', (code, sig) => (exit = sig ? `was ended by ${sig}` : `exited with code ${code}`));
  child.on('error', (err) => (exit = `could not be run (${o.cliPath}): ${err.message}`));
  const ref = child.pid ? processRef(child.pid) : { pid: 0 };
  if (child.pid) o.onSpawn?.(ref);
  child.unref();

  const address = `127.0.0.1:${o.port}`;
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (exit)
      throw new StackError(
        `the Temporal dev server did not start: it ${exit}`,
        'fix the cause in its log below (a port in use, a damaged temporal.sqlite), or start clean with --reset or another --data-dir',
        1,
        `  last lines of ${o.logFile}:\n${tailOf(o.logFile)}`,
      );
    if (o.stopping?.()) throw new StackError('interrupted while starting the Temporal dev server', 'nothing to do', 130);
    try {
      const conn = await Connection.connect({ address, connectTimeout: 1_000 });
      try {
        await conn.workflowService.describeNamespace({ namespace: o.namespace });
        break;
      } finally {
        await conn.close();
      }
    } catch {
      if (Date.now() > deadline) {
        await stopProcess(ref, 'other');
        throw new StackError(
          `the Temporal dev server did not answer at ${address} within 120 s`,
          'see its log below; start clean with --reset or another --data-dir',
          1,
          `  last lines of ${o.logFile}:\n${tailOf(o.logFile)}`,
        );
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  return {
    address,
    pid: ref.pid,
    stop: async () => {
      if (isRunning(ref)) await stopProcess(ref, 'other');
    },
  };
}
