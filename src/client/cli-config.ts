import fs from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { SingleBar, Presets } from 'cli-progress';
import type { Command } from 'commander';
import type { Pool } from 'pg';
import {
  applyConfigList,
  configHistory,
  configPosition,
  getSiphonState,
  parseConfigFile,
  shutdownSiphon,
  type SiphonTarget,
} from './config';

export interface ConfigCliDeps {
  client: Client;
  pool: Pool;
  taskQueue: string;
  close(): Promise<void>;
}

const print = (value: unknown): void => {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
};

async function readInput(file: string): Promise<string> {
  if (file !== '-') return fs.promises.readFile(file, 'utf8');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** `txmgr config apply | state | history | shutdown`, added to the main CLI's program. */
export function registerConfigCommands(program: Command, connect: () => Promise<ConfigCliDeps>): void {
  const withDeps = async (fn: (deps: ConfigCliDeps) => Promise<void>) => {
    const deps = await connect();
    try {
      await fn(deps);
    } finally {
      await deps.close();
    }
  };
  const target = (deps: ConfigCliDeps, workflowId?: string): SiphonTarget => ({
    client: deps.client,
    taskQueue: deps.taskQueue,
    workflowId,
  });

  const config = program.command('config').description('ordered config transactions through the config siphon');

  config
    .command('apply <file>')
    .description('submit the transactions in a JSON file (or - for stdin) in order, with a progress bar')
    .option('--signal', 'fire and forget: record them in order (signals) without waiting for each to apply')
    .option('--source <name>', 'who submits them, recorded with each transaction')
    .option('--workflow-id <id>', 'siphon workflow id', 'config-siphon')
    .action((file: string, o: { signal?: boolean; source?: string; workflowId: string }) =>
      withDeps(async (deps) => {
        // Every entry is checked before the first is sent: a file is applied whole or not at all.
        const transactions = parseConfigFile(
          await readInput(file),
          o.source ?? `cli:${file === '-' ? 'stdin' : path.basename(file)}`,
        );
        const bar = new SingleBar(
          { format: 'config {bar} {value}/{total} {status}', stream: process.stderr, hideCursor: true },
          Presets.shades_classic,
        );
        bar.start(transactions.length, 0, { status: '' });
        let failed = 0;
        try {
          const results = await applyConfigList(target(deps, o.workflowId), transactions, {
            mode: o.signal ? 'signal' : 'update',
            onProgress: (done, outcome) => {
              if (outcome?.status === 'failed') failed++;
              bar.update(done, { status: outcome ? `${outcome.id}: ${outcome.status}` : 'submitted' });
            },
          });
          bar.stop();
          print(results);
        } finally {
          bar.stop();
        }
        if (failed > 0) {
          process.stderr.write(`${failed} of ${transactions.length} transactions failed\n`);
          process.exitCode = 1;
        }
      }),
    );

  config
    .command('state')
    .description("the siphon's state, queue depth, last sequence and recent outcomes")
    .option('--workflow-id <id>', 'siphon workflow id', 'config-siphon')
    .action((o: { workflowId: string }) =>
      withDeps(async (deps) => {
        const state = await getSiphonState(target(deps, o.workflowId));
        print(state ?? { state: 'not running', ...(await configPosition(deps.pool)) });
      }),
    );

  config
    .command('history')
    .description('applied and failed config transactions from PostgreSQL, newest first')
    .option('--limit <n>', 'how many', (v) => Number.parseInt(v, 10), 20)
    .option('--before <sequence>', 'only those before this sequence', (v) => Number.parseInt(v, 10))
    .option('--json', 'print JSON rows instead of one line each')
    .action((o: { limit: number; before?: number; json?: boolean }) =>
      withDeps(async (deps) => {
        const rows = await configHistory(deps.pool, { limit: o.limit, beforeSequence: o.before });
        if (o.json) return print(rows);
        for (const r of rows) {
          const result =
            r.status === 'applied' ? `applied v${r.config_version}` : r.status === 'failed' ? `failed: ${r.error}` : 'pending';
          process.stdout.write(`#${r.sequence}  ${r.id}  ${r.kind}  ${result}  (${r.source}, ${r.recorded_at.toISOString()})\n`);
        }
      }),
    );

  config
    .command('shutdown')
    .description('ask the siphon to stop accepting, drain its queue and complete')
    .option('--workflow-id <id>', 'siphon workflow id', 'config-siphon')
    .action((o: { workflowId: string }) =>
      withDeps(async (deps) => print({ signalled: await shutdownSiphon(target(deps, o.workflowId)) })),
    );
}
