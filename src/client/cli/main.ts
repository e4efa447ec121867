import fs from 'node:fs';
import path from 'node:path';
import { Command, CommanderError } from 'commander';
import { registerAccountCommands } from './account';
import { registerCheckCommand } from './check';
import { registerChangesCommand } from './changes';
import { registerApiKeyCommands } from './apikey';
import { registerCampaignCommands } from './campaign';
import { registerChaosCommand } from './chaos';
import { registerConfigCommands } from './config';
import { registerDepositCommands } from './deposit';
import { toCliError } from './errors';
import { registerMetricsCommand } from './metrics';
import { registerMigrateCommand } from './migrate';
import { EXIT, badInput, printError } from './printer';
import { registerRecoveryCommands } from './recovery';
import { registerSagaCommands } from './saga';
import { registerSagasCommands } from './sagas';
import { registerTxCommands } from './tx';
import { registerTradeCommands } from './trade';
import { registerWithdrawalCommands } from './withdrawal';
import { registerServeCommand } from './serve';

const PACKAGE_JSON = path.resolve(__dirname, '..', '..', '..', 'package.json');

function version(): string {
  try {
    return (JSON.parse(fs.readFileSync(PACKAGE_JSON, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export const ENVIRONMENT_HELP = `
Environment (npm run demo -- --keep prints an export line with them):
  TEMPORAL_ADDRESS     host:port of the Temporal frontend (commands that start or follow sagas)
  TEMPORAL_NAMESPACE   Temporal namespace (default: default)
  TEMPORAL_TASK_QUEUE  task queue the workers poll (default: txmgr)
  DATABASE_URL         postgres://user:password@host:port/database (reads, balances, migrate)

Exit codes:
  0  done
  1  the operation failed (a saga failed, a timeout, a rejected config transaction)
  2  bad input (an option, a variable, an unknown reference, a conflicting id)
  3  a service is unreachable (Temporal or PostgreSQL)

Run "txmgr help <command> [subcommand]" for a command's options; --json prints JSON for scripts.`;

export function buildProgram(): Command {
  const program = new Command('txmgr')
    .description('txmgr: durable transactions on Temporal + PostgreSQL')
    .version(version(), '-V, --version', 'print the version')
    .option('--json', 'print JSON (the client library field names) instead of tables')
    .configureHelp({ showGlobalOptions: true })
    .exitOverride()
    .addHelpText('after', ENVIRONMENT_HELP);
  // Commander's errors (unknown options, missing required ones) are bad input: exit 2, through the one printer.
  program.configureOutput({ outputError: () => undefined });
  registerAccountCommands(program);
  registerDepositCommands(program);
  registerCampaignCommands(program);
  registerSagaCommands(program);
  registerSagasCommands(program);
  registerConfigCommands(program);
  registerTradeCommands(program);
  registerMetricsCommand(program);
  registerApiKeyCommands(program);
  registerServeCommand(program);
  registerMigrateCommand(program);
  registerCheckCommand(program);
  registerTxCommands(program);
  registerRecoveryCommands(program);
  registerChangesCommand(program);
  registerWithdrawalCommands(program);
  registerChaosCommand(program);
  return program;
}

/** `help deposit start` → `deposit start --help` (commander's help command goes one level deep). */
function rewriteHelp(args: string[]): string[] {
  if (args[0] === 'help' && args.length > 2) return [...args.slice(1), '--help'];
  return args;
}

export async function main(argv: string[] = process.argv): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync([...argv.slice(0, 2), ...rewriteHelp(argv.slice(2))]);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') {
        return EXIT.ok;
      }
      // An option parser's own message, else commander's (which names the option).
      return printError(badInput('UsageError', err.message.replace(/^error: /, ''), 'see txmgr help'));
    }
    return printError(toCliError(err));
  }
}
