import type { Command } from 'commander';
import type { Pool } from 'pg';
import { loadCommonConfig } from '../../config';
import { createPool } from '../../db/pool';
import { recoveryRun, recoveryStatus } from '../transactions';
import { handler } from './command';
import { EXIT, note, printJson, printTable } from './printer';

/** The custody database of CUSTODY_DATABASE_URL, when set. */
async function custodyPool(): Promise<Pool | undefined> {
  const url = loadCommonConfig().custodyDatabaseUrl;
  if (!url) {
    note('CUSTODY_DATABASE_URL is not set: only the ledger database is checked');
    return undefined;
  }
  return createPool({ databaseUrl: url, max: 2, applicationName: 'txmgr-cli' });
}

const COLUMNS: Array<[string, string]> = [
  ['gid', 'GID'],
  ['resource', 'RESOURCE'],
  ['transactionId', 'TRANSACTION'],
  ['decision', 'DECISION'],
  ['ageSeconds', 'AGE S'],
  ['action', 'ACTION'],
  ['reason', 'WHY'],
];

/** `txmgr recovery status | run`: in-doubt (prepared) two-phase transactions. */
export function registerRecoveryCommands(program: Command): void {
  const recovery = program
    .command('recovery')
    .description('in-doubt 2pc transactions: list them, resolve them from their decisions');
  recovery
    .command('status')
    .description("every prepared transaction of txmgr with its workflow's decision and what recovery would do")
    .action(
      handler(async (ctx, out) => {
        const ledger = await ctx.db();
        const custody = await custodyPool();
        try {
          const temporal = ctx.temporalAddress ? await ctx.temporal() : undefined;
          const list = await recoveryStatus({ ledger, custody, temporal });
          if (out.json) return printJson(list);
          printTable(
            COLUMNS,
            list.map((e) => ({ ...e, workflowRunning: String(e.workflowRunning ?? ''), decision: e.decision ?? 'none' })),
          );
        } finally {
          await custody?.end();
        }
      }),
    );
  recovery
    .command('run')
    .description('commit or roll back each prepared transaction from its decision; orphans and expired ones roll back')
    .action(
      handler(async (ctx, out) => {
        const ledger = await ctx.db();
        const custody = await custodyPool();
        try {
          const temporal = ctx.temporalAddress ? await ctx.temporal() : undefined;
          const results = await recoveryRun({ ledger, custody, temporal });
          if (out.json) printJson(results);
          else
            printTable(
              [...COLUMNS.slice(0, 4), ['outcome', 'OUTCOME'], ['error', 'ERROR']],
              results.map((r) => ({ ...r, workflowRunning: String(r.workflowRunning ?? '') })),
            );
          if (results.some((r) => r.outcome === 'failed')) process.exitCode = EXIT.failed;
        } finally {
          await custody?.end();
        }
      }),
    );
}
