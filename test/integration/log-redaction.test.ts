import { randomUUID } from 'node:crypto';
import { withdrawCrypto } from '../../src/client/withdrawals';
import { createApiKey } from '../../src/client/api-keys';
import { executeTrade, startTrade } from '../../src/client/trades';
import { findOrderByClientId } from '../../src/db/queries/orders';
import { freePort } from '../../src/infra/free-port';
import { TOTP_KEY_VAR } from '../../src/security/secret-box';
import { ChainSimProcess } from '../helpers/chain-sim';
import { eventually, useTestContext } from '../helpers/context';
import { openUserAccount } from '../helpers/fixtures';
import { spawnTxmgr, stackEnv, startWorkerProcess } from './cli-process';
import { applyTestConfig, fund, tradeMarketsTx } from './trade-fixtures';
import { applyWithdrawalRules, codes, customer, TOTP_KEY } from './withdrawal-fixtures';

/**
 * The worker's and the API's own log output (processes, at debug level) after a withdrawal
 * with a one-time code, a trade between two named owners and a deposit sent through the API
 * with a key: no TOTP secret or code, no API key, no name, no withdrawal address, no sender.
 */
const ctx = useTestContext();
const sim = new ChainSimProcess(150);

beforeAll(async () => {
  await applyWithdrawalRules(ctx.pool);
  await sim.start();
});
afterAll(() => sim.dispose());

test('secrets and personal data never reach the worker or the API log', async () => {
  const tq = ctx.taskQueue();
  const env = { ...stackEnv(ctx.databaseUrl, tq), LOG_LEVEL: 'debug' };
  const worker = await startWorkerProcess({ ...env, CHAIN_GATEWAY_URL: sim.url, [TOTP_KEY_VAR]: TOTP_KEY.toString('hex') });
  const api = spawnTxmgr(['--json', 'serve', '--port', String(await freePort())], env);
  let apiOut = '';
  api.child.stdout.on('data', (d: Buffer) => (apiOut += d.toString()));
  const client = ctx.client(tq);
  const seller = `Selma Seller ${randomUUID().slice(0, 6)}`;
  const buyer = `Bruno Buyer ${randomUUID().slice(0, 6)}`;
  const sender = `Sandra Sender ${randomUUID().slice(0, 6)}`;
  const secrets: string[] = [seller, buyer, sender];
  try {
    await applyTestConfig(ctx, tq, `config-siphon-logs-${randomUUID().slice(0, 8)}`, tradeMarketsTx());
    const holder = await customer(ctx.pool);
    const [, otp] = await codes(holder.secret);
    secrets.push(holder.secret, otp, holder.address);
    const done = await withdrawCrypto(
      client,
      { accountId: holder.accountId, asset: 'BTC', address: holder.address, amount: '0.01', otp, pollSeconds: 0.2 },
      TOTP_KEY,
    );
    expect(done.status).toBe('COMPLETED');

    const sellerBtc = await openUserAccount(ctx.pool, 'BTC', seller);
    await openUserAccount(ctx.pool, 'USD', seller);
    await openUserAccount(ctx.pool, 'BTC', buyer);
    const buyerUsd = await openUserAccount(ctx.pool, 'USD', buyer);
    await fund(ctx.pool, sellerBtc, 'BTC', 100_000_000n);
    await fund(ctx.pool, buyerUsd, 'USD', 100_00n);
    await startTrade(client, {
      owner: seller,
      market: 'BTC-USD',
      side: 'sell',
      quantity: '0.5',
      price: '100.00',
      clientOrderId: 'log-s',
    });
    await eventually(async () => (await findOrderByClientId(ctx.pool, seller, 'log-s'))?.status === 'open');
    const taken = await executeTrade(client, {
      ...{ owner: buyer, market: 'BTC-USD', side: 'buy', quantity: '0.5', price: '100.00', tif: 'IOC' },
    });
    expect(taken.status).toBe('filled');

    // `serve --json` prints where it listens as one JSON line among its log lines.
    await eventually(async () => listening(apiOut) !== undefined, 60_000);
    const url = listening(apiOut) as string;
    const { key } = await createApiKey(ctx.pool, { name: 'logs', scopes: ['read', 'execute'] });
    secrets.push(key);
    const account = await openUserAccount(ctx.pool);
    const res = await fetch(`${url}/api/v1/transactions/execute-workflow?wait=true`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'idempotency-key': randomUUID(), 'content-type': 'application/json' },
      body: JSON.stringify({
        workflow_type: 'fiat_deposit',
        parameters: {
          accountId: account,
          asset: 'USD',
          amount: '10.00',
          bankReference: `LOGS-${randomUUID().slice(0, 8)}`,
          senderName: sender,
        },
      }),
    });
    expect(res.status).toBe(200);
    // A refused request logs too: a wrong key, and a body with the sender in it.
    const refused = await fetch(`${url}/api/v1/transactions/execute-workflow`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}x`, 'idempotency-key': randomUUID(), 'content-type': 'application/json' },
      body: JSON.stringify({ workflow_type: 'fiat_deposit', parameters: { senderName: sender } }),
    });
    expect(refused.status).toBe(401);
  } finally {
    api.child.kill('SIGTERM');
    await api.done;
    await worker.stop();
  }
  const workerLog = worker.log();
  const apiRun = await api.done;
  const apiLog = `${apiRun.stdout}${apiRun.stderr}`;
  expect(workerLog).toContain('"level":20'); // debug lines were written, so the checks below mean something
  expect(workerLog).toContain('withdrawal');
  expect(apiLog.length).toBeGreaterThan(0);
  for (const s of secrets) {
    expect({ secret: s, inWorkerLog: workerLog.includes(s) }).toEqual({ secret: s, inWorkerLog: false });
    expect({ secret: s, inApiLog: apiLog.includes(s) }).toEqual({ secret: s, inApiLog: false });
  }
}, 300_000);

/** The address in `txmgr serve --json`'s output (a pretty-printed object among its log lines), once it listens. */
function listening(out: string): string | undefined {
  return /"url": "(http:\/\/[^"]+)"/.exec(out)?.[1];
}
