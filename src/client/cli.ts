#!/usr/bin/env node
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { Command } from 'commander';
import { DomainError } from '../domain/errors';
import { createPool } from '../db/pool';
import { ConfigError, loadCommonConfig } from '../config';
import { registerConfigCommands } from './cli-config';
import { TxmgrClient } from './index';

/**
 * `txmgr`: the starter-script CLI on the typed client. Points at TEMPORAL_ADDRESS
 * and DATABASE_URL (the demo prints both with --keep).
 */
export interface CliDeps {
  client: Client;
  pool: ReturnType<typeof createPool>;
  taskQueue: string;
  close(): Promise<void>;
}

export async function connect(): Promise<CliDeps> {
  const config = loadCommonConfig();
  if (!config.temporalAddress) throw new ConfigError('TEMPORAL_ADDRESS is required (host:port of the Temporal frontend)');
  if (!config.databaseUrl) throw new ConfigError('DATABASE_URL is required (postgres://user:password@host:port/database)');
  const connection = await Connection.connect({ address: config.temporalAddress });
  const pool = createPool({ databaseUrl: config.databaseUrl, max: 4, applicationName: 'txmgr-cli' });
  return {
    client: new Client({ connection, namespace: config.namespace }),
    pool,
    taskQueue: config.taskQueue,
    close: async () => {
      await pool.end();
      await connection.close();
    },
  };
}

const print = (value: unknown) => process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);

async function withTxmgr<T>(fn: (txmgr: TxmgrClient) => Promise<T>): Promise<void> {
  const deps = await connect();
  try {
    print(await fn(new TxmgrClient(deps.client, deps.pool, deps.taskQueue)));
  } finally {
    await deps.close();
  }
}

export function buildProgram(): Command {
  const program = new Command('txmgr').description('txmgr: durable transactions on Temporal + PostgreSQL').showHelpAfterError();

  const account = program.command('account').description('ledger accounts');
  account
    .command('open')
    .requiredOption('--owner <owner>', 'who owns the account')
    .requiredOption('--asset <asset>', 'asset code, e.g. USD')
    .option('--id <uuid>', 'account id (default: a new UUID)')
    .action((o: { owner: string; asset: string; id?: string }) =>
      withTxmgr((t) => t.openAccount({ owner: o.owner, asset: o.asset, accountId: o.id })),
    );
  program
    .command('balance <accountId>')
    .description("an account's balance in human decimals")
    .action((accountId: string) => withTxmgr((t) => t.getBalance(accountId)));

  const deposit = program.command('deposit').description('fiat deposits');
  deposit
    .command('start')
    .requiredOption('--account <uuid>', 'account to credit')
    .requiredOption('--asset <asset>', 'asset code')
    .requiredOption('--amount <decimal>', 'amount as a decimal, e.g. 250.00')
    .requiredOption('--reference <ref>', 'bank reference (unique per deposit)')
    .requiredOption('--sender <name>', "sender's name")
    .option('--no-wait', 'return once started instead of waiting for the outcome')
    .action((o: { account: string; asset: string; amount: string; reference: string; sender: string; wait: boolean }) =>
      withTxmgr<unknown>((t) => {
        const request = {
          accountId: o.account,
          asset: o.asset,
          amount: o.amount,
          bankReference: o.reference,
          senderName: o.sender,
        };
        return o.wait ? t.depositFiat(request) : t.startDeposit(request);
      }),
    );
  for (const verdict of ['approve', 'reject'] as const) {
    deposit
      .command(`${verdict} <reference>`)
      .description(`${verdict} a deposit waiting for compliance review`)
      .requiredOption('--reviewer <name>', 'who decides')
      .option('--reason <text>', 'why')
      .action((reference: string, o: { reviewer: string; reason?: string }) =>
        withTxmgr(async (t) => {
          await (verdict === 'approve' ? t.approveDeposit(reference, o) : t.rejectDeposit(reference, o));
          return { bankReference: reference, signalled: verdict };
        }),
      );
  }
  program
    .command('saga <workflowId>')
    .description("a saga's status: steps done, compensations run")
    .action((workflowId: string) => withTxmgr((t) => t.sagaStatus(workflowId)));
  registerConfigCommands(program, connect);
  return program;
}

if (require.main === module) {
  buildProgram()
    .parseAsync()
    .catch((err: unknown) => {
      const cause = err instanceof WorkflowFailedError ? err.cause : err;
      if (cause instanceof DomainError || cause instanceof ConfigError) {
        process.stderr.write(`${cause.name}: ${cause.message}\n`);
        process.exit(2);
      }
      process.stderr.write(`${cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause)}\n`);
      process.exit(1);
    });
}
