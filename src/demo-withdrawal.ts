import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { NativeConnection } from '@temporalio/worker';
import type { Pool } from 'pg';
import { HttpChainGateway } from './chain/http-gateway';
import { TxmgrClient } from './client';
import { readBalance } from './client/balances';
import { allowWithdrawalAddress, enrollTotp, withdrawCrypto } from './client/withdrawals';
import { ensureDatabase } from './db/admin';
import { postTransfer } from './db/ledger';
import { findHouseAccount } from './db/queries/accounts';
import { withTransaction } from './db/transaction';
import { formatAmount } from './domain/money';
import type { Logger } from './logger';
import { TOTP_KEY_VAR } from './security/secret-box';
import { totpCode } from './security/totp';
import { createWorker } from './worker-factory';

export interface WithdrawalDemoDeps {
  temporal: Client;
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  pool: Pool;
  databaseUrl: string;
  logger: Logger;
  say: (line: string) => void;
}

/** Starts the chain simulator as its own process (state in the database chainsim beside the demo's). */
async function startSimulator(databaseUrl: string): Promise<{ url: string; stop: () => Promise<void> }> {
  const simDb = await ensureDatabase(databaseUrl, 'chainsim');
  const child = spawn(process.execPath, [require.resolve('./chain/sim-process')], {
    env: {
      ...process.env,
      CHAIN_SIM_DATABASE_URL: simDb,
      CHAIN_SIM_PORT: '0',
      CHAIN_SIM_EXIT_WITH_PARENT: '1',
      CHAIN_SIM_BLOCK_MS: '300',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m?.[1]) resolve(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`the chain simulator exited with code ${code}`)));
  });
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  return { url, stop };
}

/** Two crypto withdrawals through the simulated chain: one completes, one the node rejects. */
export async function runWithdrawalDemo(d: WithdrawalDemoDeps): Promise<void> {
  const sim = await startSimulator(d.databaseUrl);
  const key = process.env[TOTP_KEY_VAR] ? Buffer.from(process.env[TOTP_KEY_VAR], 'hex') : randomBytes(32);
  const taskQueue = `${d.taskQueue}-withdrawals`;
  const chain = new HttpChainGateway({ baseUrl: sim.url, network: 'mainnet', timeoutMs: 5_000 });
  const worker = await createWorker({
    connection: d.connection,
    namespace: d.namespace,
    taskQueue,
    pool: d.pool,
    logger: d.logger,
    chain,
    totpKey: key,
  });
  const txmgr = new TxmgrClient(d.temporal, d.pool, taskQueue);
  try {
    await worker.runUntil(async () => {
      const carol = await txmgr.openAccount({ owner: 'carol', asset: 'BTC' });
      await withTransaction(d.pool, 'demo-fund-btc', async (tx) => {
        const external = await findHouseAccount(tx, 'BTC', 'external_chain');
        if (!external) throw new Error('no external_chain account for BTC');
        await postTransfer(tx, {
          id: randomUUID(),
          debitAccountId: external.id,
          creditAccountId: carol.accountId,
          asset: 'BTC',
          amount: 100_000_000n,
        });
      });
      const { secret } = await enrollTotp(d.pool, carol.accountId, key);
      const good = 'bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq';
      const refused = '1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2';
      for (const address of [good, refused]) {
        await allowWithdrawalAddress(d.pool, {
          accountId: carol.accountId,
          asset: 'BTC',
          address,
          coolingOffSeconds: 0,
          network: 'mainnet',
        });
      }
      d.say(`opened carol=${carol.accountId} with 1.00000000 BTC; chain simulator at ${sim.url}`);
      const base = { accountId: carol.accountId, asset: 'BTC', amount: '0.25', pollSeconds: 0.5 };
      const done = await withdrawCrypto(
        txmgr,
        { ...base, address: good, otp: totpCode(secret, new Date(Date.now() - 30_000)) },
        key,
      );
      d.say(
        `9. crypto withdrawal 0.25000000 BTC     -> ${done.status} (tx ${done.chainTxId.slice(0, 12)}…, ${done.confirmations} confirmations, fee ${formatAmount(BigInt(done.fee), 8)} BTC)`,
      );
      await fetch(`${sim.url}/admin/faults`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ kind: 'reject', address: refused }),
      });
      try {
        await withdrawCrypto(txmgr, { ...base, address: refused, otp: totpCode(secret, new Date()) }, key);
        d.say('10. withdrawal the node rejects           -> unexpectedly completed');
        process.exitCode = 1;
      } catch (err) {
        const cause = err instanceof WorkflowFailedError ? err.cause : err;
        const type = cause instanceof ApplicationFailure ? cause.type : 'unknown';
        d.say(`10. withdrawal the node rejects         -> ${type}: ${(cause as Error).message}; hold released`);
      }
      const b = await readBalance(d.pool, carol.accountId);
      d.say(`balance carol  ${b.balanceDisplay.padStart(12)} ${b.asset} (available ${b.availableDisplay})`);
    });
  } finally {
    await sim.stop();
  }
}
