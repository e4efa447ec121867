import fs from 'node:fs';
import type { Command } from 'commander';
import type { TransactionResult } from '../../domain/operations';
import { executeTransaction, getTransaction, TransactionFailedError } from '../transactions';
import { handler } from './command';
import { badInput, CliError, EXIT, printJson, printLine, printTable } from './printer';
import { requireWorker } from './wait';

const BAD_INPUT = new Set(['ValidationError', 'NotFound', 'IdempotencyConflict']);

/** Reads the request: a file, or standard input for "-". */
function readRequest(source: string): unknown {
  let text: string;
  try {
    text = source === '-' ? fs.readFileSync(0, 'utf8') : fs.readFileSync(source, 'utf8');
  } catch (err) {
    throw badInput('UsageError', `cannot read ${source === '-' ? 'standard input' : source}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw badInput('ValidationError', `${source} is not JSON: ${(err as Error).message}`, 'see the README for the format');
  }
}

/** Detail lines already read as people read them (human decimals with the asset). */
function printTransaction(t: TransactionResult): void {
  printLine(
    `transaction ${t.id} (${t.mode}) ${t.status}${t.decision ? `, decision ${t.decision}` : ''}${t.error ? `: ${t.error.type}: ${t.error.message}` : ''}`,
  );
  printTable(
    [
      ['position', '#'],
      ['type', 'OPERATION'],
      ['resource', 'RESOURCE'],
      ['status', 'OUTCOME'],
      ['detail', 'DETAIL'],
    ],
    t.operations.map((o) => ({ ...o })),
  );
}

/** `txmgr tx run <file|->` and `txmgr tx show <id>`: operation lists run as one transaction. */
export function registerTxCommands(program: Command): void {
  const tx = program.command('tx').description('transactions of the transaction core: run an operation list, show one');
  tx.command('run <file>')
    .description(
      "run a JSON transaction ({ id, mode, timeoutSeconds, operations }) from a file or - for stdin; shows each operation's outcome",
    )
    .action(
      handler(async (ctx, out, file: string) => {
        const request = readRequest(file);
        const temporal = await ctx.temporal();
        await requireWorker(temporal, ctx.taskQueue);
        try {
          const result = await executeTransaction({ temporal, taskQueue: ctx.taskQueue }, request as never);
          if (out.json) return printJson(result);
          printTransaction(result);
        } catch (err) {
          if (!(err instanceof TransactionFailedError)) throw err;
          if (out.json && err.transaction) printJson(err.transaction);
          else if (err.transaction) printTransaction(err.transaction);
          throw new CliError(
            err.type,
            err.message,
            'nothing of it stayed unless an outcome above says applied',
            BAD_INPUT.has(err.type) ? EXIT.badInput : EXIT.failed,
          );
        }
      }),
    );
  tx.command('show <id>')
    .description("a transaction by id: its mode, status, decision and each operation's outcome")
    .action(
      handler(async (ctx, out, id: string) => {
        const temporal = await ctx.temporal();
        const result = await getTransaction({ temporal, taskQueue: ctx.taskQueue }, id);
        if (!result) throw badInput('NotFound', `no transaction with id ${id}`, 'run one with: txmgr tx run <file>');
        if (out.json) return printJson(result);
        printTransaction(result);
        if (result.status !== 'COMMITTED' && result.status !== 'RUNNING') process.exitCode = EXIT.failed;
      }),
    );
}
