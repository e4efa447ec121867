#!/usr/bin/env node
import path from 'node:path';
import { Client, WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { Command, Option } from 'commander';
import type { Pool } from 'pg';
import type { Worker } from '@temporalio/worker';
import { TxmgrClient } from './client';
import { runCampaignDemo } from './demo-campaign';
import { applyConfigList, configPosition, exampleConfigTransactions } from './client/config';
import type { depositFiat } from './workflows';
import { ConfigError, loadCommonConfig } from './config';
import { checkInvariants } from './db/invariants';
import { migrate } from './db/migrate';
import { createPool } from './db/pool';
import { PROJECT_ROOT, startStack, type Stack } from './infra/stack';
import { describeFailure, exitCodeOf } from './infra/stack-error';
import { createLogger } from './logger';
import { installRuntime } from './temporal/runtime';
import { createWorker } from './worker-factory';
import { demoTrades } from './demo-trade';
import { runWithdrawalDemo } from './demo-withdrawal';
import { demoApi } from './demo-api';

/**
 * `npm run demo`: the embedded stack (Temporal dev server + PostgreSQL), a worker,
 * and four deposits: ordinary, reviewed and approved, rejected by compliance, and
 * a duplicate bank reference. Prints balances and the Web UI URL, then stops
 * everything (or keeps it up with --keep). Data persists in the data directory
 * between runs; --reset starts from empty data.
 */
async function main(): Promise<void> {
  const opts = new Command()
    .name('npm run demo --')
    .option('--keep', 'keep the stack and worker running (Web UI, txmgr CLI) until Ctrl-C')
    .option('--reset', 'delete the data directory (PostgreSQL cluster, Temporal history) first and start from empty data')
    .option('--data-dir <dir>', 'where the demo keeps its data (default: .data/demo, or TXMGR_DATA_DIR/demo)')
    // For the process tests: start the stack, print what runs, stop (or wait with --keep).
    .addOption(new Option('--stack-only').hideHelp())
    .parse()
    .opts<{ keep?: boolean; reset?: boolean; dataDir?: string; stackOnly?: boolean }>();
  const config = loadCommonConfig();
  // Expected failures (the rejected deposit) log warnings; the demo's own lines tell the story.
  const logger = createLogger(process.env.LOG_LEVEL ?? 'error');
  installRuntime(logger);
  const started = Date.now();
  const dataDir = opts.dataDir
    ? path.resolve(process.env.INIT_CWD ?? process.cwd(), opts.dataDir)
    : path.resolve(PROJECT_ROOT, config.dataDir, 'demo');

  // Ctrl-C (or SIGTERM, a closed terminal) at any moment: stop what runs, say what, exit 130.
  const abort = new AbortController();
  let stack: Stack | undefined = undefined;
  let worker: Worker | undefined;
  let pool: Pool | undefined = undefined;
  let custodyPool: Pool | undefined = undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    if (stoppingFor) {
      say(`${sig} again: exiting now; the supervisor stops what is still running`);
      process.exit(130);
    }
    stoppingFor = sig === 'SIGINT' ? 'Ctrl-C' : sig;
    if (!stack) {
      say(`${stoppingFor}: stopping what has started so far ...`);
      abort.abort();
      return; // startStack stops its services and rejects; main's caller reports it
    }
    void stopAll(stack).then(() => process.exit(130));
  };
  const stopAll = async (s: Stack) => {
    stoppingAll = true;
    say(`${stoppingFor}: stopping ${worker ? 'the worker, ' : ''}${s.services.join(', ')} ...`);
    if (worker && worker.getState() === 'RUNNING') {
      worker.shutdown();
      const deadline = Date.now() + 15_000;
      while (!['STOPPED', 'FAILED'].includes(worker.getState()) && Date.now() < deadline) await sleep(100);
    }
    await pool?.end().catch(() => undefined);
    await custodyPool?.end().catch(() => undefined);
    const stopped = await s.stop();
    say(`stopped ${stopped.join(' and ') || 'nothing (already stopped)'}; nothing is left running. Data kept in ${dataDir}.`);
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, onSignal);

  say('txmgr demo: starting Temporal dev server, PostgreSQL and a worker ...');
  stack = await startStack({
    logger,
    dataDir,
    namespace: config.namespace,
    databaseName: 'txmgr',
    temporalAddress: config.temporalAddress,
    databaseUrl: config.databaseUrl,
    persistTemporal: true,
    reset: opts.reset,
    say: (line) => say(`  ${line}`),
    signal: abort.signal,
  });
  // The custody database (the transaction core's second resource): the stack's own, or the one configured.
  const custodyUrl = stack.custodyDatabaseUrl ?? config.custodyDatabaseUrl;
  const exports =
    `export TEMPORAL_ADDRESS=${stack.temporalAddress} TEMPORAL_NAMESPACE=${stack.namespace} TEMPORAL_TASK_QUEUE=${config.taskQueue} DATABASE_URL=${stack.databaseUrl}` +
    (custodyUrl ? ` CUSTODY_DATABASE_URL=${custodyUrl}` : '');
  if (opts.stackOnly) {
    say(`stack ready: ${stack.services.join(', ')}`);
    say(exports);
    if (opts.keep) await new Promise<never>(() => undefined); // until a signal
    await stack.stop();
    return;
  }
  // Migrations as the owner; the worker, the client and the API as the application's role.
  pool = createPool({ databaseUrl: stack.appDatabaseUrl ?? stack.databaseUrl, max: 20 });
  try {
    await migrate(stack.databaseUrl, logger);
    if (custodyUrl) {
      await migrate(custodyUrl, logger);
      custodyPool = createPool({ databaseUrl: custodyUrl, max: 10 });
    }
    const taskQueue = config.taskQueue;
    worker = await createWorker({
      connection: stack.nativeConnection,
      namespace: stack.namespace,
      taskQueue,
      pool,
      custodyPool,
      logger,
    });
    const temporal = new Client({ connection: stack.connection, namespace: stack.namespace });
    const txmgr = new TxmgrClient(temporal, pool, taskQueue);
    const db = pool;

    await worker.runUntil(async () => {
      // Config first, through the siphon: markets, compliance (a deny-listed name), withdrawal
      // limits, campaign defaults. Their ids are fixed, so a second demo run applies nothing twice.
      const examples = exampleConfigTransactions();
      const outcomes = await applyConfigList({ client: temporal, taskQueue }, examples);
      const applied = outcomes.filter((o) => o.status === 'applied' && !o.duplicate).length;
      const position = await configPosition(db);
      say(
        `applied ${examples.length} example config transactions through the siphon (${applied} new; config version ${position.configVersion}, sequence ${position.lastSequence})`,
      );
      const run = Date.now().toString(36);
      const alice = await txmgr.openAccount({ owner: 'alice', asset: 'USD' });
      const bob = await txmgr.openAccount({ owner: 'bob', asset: 'USD' });
      say(`opened accounts alice=${alice.accountId} bob=${bob.accountId}`);

      const ordinary = await txmgr.depositFiat({
        accountId: alice.accountId,
        asset: 'USD',
        amount: '250.00',
        bankReference: `DEMO-${run}-1`,
        senderName: 'Alice Example',
      });
      say(`1. ordinary deposit 250.00 USD          -> ${ordinary.status} (${ordinary.bankReference})`);

      const bigRef = `DEMO-${run}-2`;
      await txmgr.startDeposit({
        accountId: bob.accountId,
        asset: 'USD',
        amount: '25000.00',
        bankReference: bigRef,
        senderName: 'Bob Example',
      });
      await waitFor(async () => (await txmgr.sagaStatus(`deposit-${bigRef}`)).stepsDone.includes('screen'));
      say(`2. large deposit 25000.00 USD           -> waiting for review; approving as "ops-demo"`);
      await txmgr.approveDeposit(bigRef, { reviewer: 'ops-demo', reason: 'source of funds verified' });
      const reviewed = await temporal.workflow.getHandle<typeof depositFiat>(`deposit-${bigRef}`).result();
      say(`   after approval                       -> ${reviewed.status}`);

      try {
        await txmgr.depositFiat({
          accountId: bob.accountId,
          asset: 'USD',
          amount: '99.00',
          bankReference: `DEMO-${run}-3`,
          senderName: 'Mallory Sanctioned',
        });
        say('3. denied sender                        -> unexpectedly credited');
        process.exitCode = 1;
      } catch (err) {
        const cause = err instanceof WorkflowFailedError ? err.cause : err;
        const type = cause instanceof ApplicationFailure ? cause.type : 'unknown';
        say(`3. deposit from a denied sender         -> ${type}: ${(cause as Error).message}`);
      }

      const again = await txmgr.depositFiat({
        accountId: alice.accountId,
        asset: 'USD',
        amount: '250.00',
        bankReference: `DEMO-${run}-1`,
        senderName: 'Alice Example',
      });
      say(
        `4. same bank reference again            -> ${again.status}, deposit ${again.depositId === ordinary.depositId ? 'is the first one' : 'DIFFERS'}; credited once`,
      );

      await demoTrades(txmgr, say, run);
      await runWithdrawalDemo({
        temporal,
        connection: stack.nativeConnection,
        namespace: stack.namespace,
        taskQueue,
        pool: db,
        databaseUrl: stack.databaseUrl,
        logger,
        say,
      });
      await runCampaignDemo(txmgr, { owner: bob.accountId, recipients: [alice.accountId], run, say });
      say('');
      for (const [name, acct] of [
        ['alice', alice],
        ['bob', bob],
      ] as const) {
        const b = await txmgr.getBalance(acct.accountId);
        say(`balance ${name.padEnd(6)} ${b.balanceDisplay.padStart(12)} ${b.asset} (available ${b.availableDisplay})`);
      }
      const violations = await checkInvariants(db, { temporal });
      say(`ledger invariants: ${violations.length === 0 ? 'all hold' : violations.join('; ')}`);
      if (violations.length) process.exitCode = 1;
      say(`Temporal Web UI: ${stack.webUiUrl ?? '(external cluster)'}`);
      say(`demo finished in ${((Date.now() - started) / 1000).toFixed(1)}s`);
      if (!config.databaseUrl) {
        say(
          `Data persists in ${dataDir} between runs (accounts, deposits, config, workflow history); start clean with: npm run demo -- --reset`,
        );
      }
      if (opts.keep) {
        say('--keep: everything stays up; press Ctrl-C to stop it. For the txmgr CLI in another terminal:');
        say(`  ${exports}`);
        await demoApi({ txmgr, logger, accountId: alice.accountId, say });
        await new Promise<never>(() => undefined); // until a signal; onSignal stops everything and exits
      }
    });
  } finally {
    if (!stoppingFor) {
      await pool.end();
      await custodyPool?.end();
      await stack.stop();
    }
  }
}

/** Set by the first signal; from then on the signal handler owns the exit. */
let stoppingFor: string | undefined;
let stoppingAll = false;
const say = (line = '') => process.stdout.write(`${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error('timed out waiting for the saga');
    await new Promise((r) => setTimeout(r, 200));
  }
}

// While stopping, calls still in flight fail as their connections close: expected, not news.
// Otherwise an error nobody caught is still reported as a sentence (the supervisor stops the stack).
const onStray = (err: unknown) => {
  if (stoppingFor) return;
  process.stderr.write(`txmgr demo: ${describeFailure(err, 'this is a bug in the demo; run it again with LOG_LEVEL=debug')}\n`);
  process.exit(1);
};
process.on('uncaughtException', onStray);
process.on('unhandledRejection', onStray);

main().then(
  () => {
    if (!stoppingFor) process.exit(process.exitCode ?? 0);
  },
  (err: unknown) => {
    if (stoppingAll) return; // the signal handler is stopping everything and exits
    if (stoppingFor || exitCodeOf(err) === 130) {
      say('stopped what had started; nothing is left running.');
      process.exit(130);
    }
    process.stderr.write(
      `txmgr demo: ${describeFailure(err, 'run it again with LOG_LEVEL=debug for details, or start clean with npm run demo -- --reset')}\n`,
    );
    process.exit(err instanceof ConfigError ? 2 : exitCodeOf(err));
  },
);
