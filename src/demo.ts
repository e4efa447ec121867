#!/usr/bin/env node
import path from 'node:path';
import { Client, WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { Command } from 'commander';
import { TxmgrClient } from './client';
import { applyConfigList, configPosition, exampleConfigTransactions } from './client/config';
import type { depositFiat } from './workflows';
import { loadCommonConfig } from './config';
import { checkInvariants } from './db/invariants';
import { migrate } from './db/migrate';
import { createPool } from './db/pool';
import { PROJECT_ROOT, startStack } from './infra/stack';
import { createLogger } from './logger';
import { installRuntime } from './temporal/runtime';
import { createWorker } from './worker-factory';

/**
 * `npm run demo`: the embedded stack (Temporal dev server + PostgreSQL), a worker,
 * and four deposits: ordinary, reviewed and approved, rejected by compliance, and
 * a duplicate bank reference. Prints balances and the Web UI URL, then stops
 * everything (or keeps it up with --keep).
 */
async function main(): Promise<void> {
  const opts = new Command()
    .option('--keep', 'keep the stack and worker running for the Web UI until Ctrl-C')
    .parse()
    .opts<{ keep?: boolean }>();
  const config = loadCommonConfig();
  // Expected failures (the rejected deposit) log warnings; the demo's own lines tell the story.
  const logger = createLogger(process.env.LOG_LEVEL ?? 'error');
  installRuntime(logger);
  const say = (line = '') => process.stdout.write(`${line}\n`);
  const started = Date.now();

  say('txmgr demo: starting Temporal dev server, PostgreSQL and a worker ...');
  const stack = await startStack({
    logger,
    dataDir: path.resolve(PROJECT_ROOT, config.dataDir, 'demo'),
    namespace: config.namespace,
    databaseName: 'txmgr',
    temporalAddress: config.temporalAddress,
    databaseUrl: config.databaseUrl,
    persistTemporal: true,
  });
  const pool = createPool({ databaseUrl: stack.databaseUrl, max: 20 });
  try {
    await migrate(stack.databaseUrl, logger);
    const taskQueue = config.taskQueue;
    const worker = await createWorker({
      connection: stack.nativeConnection,
      namespace: stack.namespace,
      taskQueue,
      pool,
      logger,
    });
    const temporal = new Client({ connection: stack.connection, namespace: stack.namespace });
    const txmgr = new TxmgrClient(temporal, pool, taskQueue);

    await worker.runUntil(async () => {
      // Config first, through the siphon: markets, compliance (a deny-listed name), withdrawal
      // limits, campaign defaults. Their ids are fixed, so a second demo run applies nothing twice.
      const examples = exampleConfigTransactions();
      const outcomes = await applyConfigList({ client: temporal, taskQueue }, examples);
      const applied = outcomes.filter((o) => o.status === 'applied' && !o.duplicate).length;
      const position = await configPosition(pool);
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

      say('');
      for (const [name, acct] of [
        ['alice', alice],
        ['bob', bob],
      ] as const) {
        const b = await txmgr.getBalance(acct.accountId);
        say(`balance ${name.padEnd(6)} ${b.balanceDisplay.padStart(12)} ${b.asset} (available ${b.availableDisplay})`);
      }
      const violations = await checkInvariants(pool, { temporal });
      say(`ledger invariants: ${violations.length === 0 ? 'all hold' : violations.join('; ')}`);
      if (violations.length) process.exitCode = 1;
      say(`Temporal Web UI: ${stack.webUiUrl ?? '(external cluster)'}`);
      say(`demo finished in ${((Date.now() - started) / 1000).toFixed(1)}s`);
      if (opts.keep) {
        say('--keep: everything stays up; press Ctrl-C to stop. To use the txmgr CLI against it:');
        say(
          `  export TEMPORAL_ADDRESS=${stack.temporalAddress} DATABASE_URL=${stack.databaseUrl} TEMPORAL_TASK_QUEUE=${taskQueue}`,
        );
        await new Promise<void>((resolve) => {
          process.once('SIGINT', resolve);
          process.once('SIGTERM', resolve);
        });
      }
    });
  } finally {
    await pool.end();
    await stack.stop();
  }
}

async function waitFor(check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error('timed out waiting for the saga');
    await new Promise((r) => setTimeout(r, 200));
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
