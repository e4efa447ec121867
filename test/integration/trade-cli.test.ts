import { randomUUID } from 'node:crypto';
import { findOrder } from '../../src/db/queries/orders';
import { findHold } from '../../src/db/queries/holds';
import { count } from '../helpers/fixtures';
import { useTestContext } from '../helpers/context';
import { stackEnv, startWorkerProcess, txmgr } from './cli-process';
import { balanceOf, BTC, trader, USD, useTradeMarkets } from './trade-fixtures';

/**
 * The trade commands as a person runs them: `txmgr trade buy|sell`, `order show|cancel`,
 * `book`, `trades`, as processes against a worker process. What is printed (human decimals
 * with their asset) and what PostgreSQL then holds; bad input is exit 2 naming the field.
 */
const ctx = useTestContext();
useTradeMarkets(ctx, 'trade-cli');

/** The order id a `txmgr trade` or `order` command printed. */
const orderIdOf = (stdout: string): string => /^order\s+([0-9a-f-]{36})$/m.exec(stdout)?.[1] ?? 'none printed';

test('a person places, reads, crosses and cancels orders, and reads the book and the tape', async () => {
  const tq = ctx.taskQueue();
  const env = stackEnv(ctx.databaseUrl, tq);
  const worker = await startWorkerProcess(env);
  try {
    const seller = await trader(ctx.pool, { BTC: BTC(2), USD: 0n });
    const buyer = await trader(ctx.pool, { BTC: 0n, USD: USD(1000) });

    // A GTC sell rests: the command returns once it is on the book.
    const ask = await txmgr(['trade', 'sell', 'BTC-USD', '--owner', seller.owner, '--qty', '1', '--price', '100.00'], env);
    expect(ask).toMatchObject({ code: 0, stderr: '' });
    expect(ask.stdout).toMatch(/^price\s+100\.00 USD \(10000 minor\)$/m);
    expect(ask.stdout).toMatch(/^quantity\s+1\.00000000 BTC \(100000000 minor\)$/m);
    expect(ask.stdout).toMatch(/^side\s+sell limit GTC$/m);
    expect(ask.stdout).toMatch(/^status\s+open$/m);
    const askId = orderIdOf(ask.stdout);
    expect(await findOrder(ctx.pool, askId)).toMatchObject({ status: 'open', price: '10000', quantity: BTC(1).toString() });

    const higher = await txmgr(
      ['trade', 'sell', 'btc-usd', '--owner', seller.owner, '--qty', '0.5', '--price', '101', '--post-only'],
      env,
    );
    expect(higher.code).toBe(0);
    expect(higher.stdout).toMatch(/^side\s+sell limit GTC post-only$/m);
    const higherId = orderIdOf(higher.stdout);

    const book = await txmgr(['book', 'BTC-USD'], env);
    expect(book.code).toBe(0);
    expect(book.stdout.split('\n')).toEqual([
      'BTC-USD (prices in USD, quantities in BTC)',
      'orders  bid qty  bid  ask     ask qty     orders',
      '                      100.00  1.00000000  1',
      '                      101.00  0.50000000  1',
      '',
    ]);
    // Seller's base is on hold for both: 1.5 BTC.
    expect(await balanceOf(ctx.pool, seller.accounts.BTC!)).toEqual({ balance: BTC(2), pending: BTC(1.5) });

    // An IOC buy crosses both levels at the makers' prices.
    const bid = await txmgr(
      ['trade', 'buy', 'BTC-USD', '--owner', buyer.owner, '--qty', '1.2', '--price', '101.00', '--tif', 'ioc'],
      env,
    );
    expect(bid).toMatchObject({ code: 0, stderr: '' });
    expect(bid.stdout).toMatch(/^filled\s+1\.20000000 BTC$/m);
    expect(bid.stdout).toMatch(/^status\s+filled$/m);
    const bidId = orderIdOf(bid.stdout);
    const fills = await ctx.pool.query<{ price: string; quantity: string; quote_amount: string; taker_fee: string }>(
      'SELECT price::text, quantity::text, quote_amount::text, taker_fee::text FROM fills WHERE taker_order_id = $1 ORDER BY price',
      [bidId],
    );
    expect(fills.rows).toEqual([
      { price: '10000', quantity: BTC(1).toString(), quote_amount: '10000', taker_fee: '20' },
      { price: '10100', quantity: BTC(0.2).toString(), quote_amount: '2020', taker_fee: '4' },
    ]);
    expect(await balanceOf(ctx.pool, buyer.accounts.USD!)).toEqual({ balance: USD(1000) - 12_020n - 24n, pending: 0n });

    const tape = await txmgr(['trades', 'BTC-USD'], env);
    expect(tape.code).toBe(0);
    const lines = tape.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^time\s+taker\s+price\s+quantity\s+amount$/);
    // Newest first: the second level's print, then the first's.
    expect(lines[1]).toMatch(/^\S+Z\s+buy\s+101\.00 USD\s+0\.20000000 BTC\s+20\.20 USD$/);
    expect(lines[2]).toMatch(/^\S+Z\s+buy\s+100\.00 USD\s+1\.00000000 BTC\s+100\.00 USD$/);
    expect(lines).toHaveLength(3);

    const shown = await txmgr(['order', 'show', higherId.toUpperCase()], env);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/^filled\s+0\.20000000 BTC$/m);
    expect(shown.stdout).toMatch(/^status\s+open$/m);

    // Only the owner cancels; the cancel returns the final order; a closed order cannot be cancelled.
    const foreign = await txmgr(['order', 'cancel', higherId, '--owner', buyer.owner], env);
    expect(foreign.code).toBe(2);
    expect(foreign.stderr).toMatch(/^ValidationError: owner: order [0-9a-f-]+ belongs to another owner/);
    const cancelled = await txmgr(['order', 'cancel', higherId, '--owner', seller.owner], env);
    expect(cancelled).toMatchObject({ code: 0, stderr: '' });
    expect(cancelled.stdout).toMatch(/^status\s+cancelled \(cancelled by its owner\)$/m);
    expect(cancelled.stdout).toMatch(/^filled\s+0\.20000000 BTC$/m);
    const row = (await findOrder(ctx.pool, higherId))!;
    expect(row).toMatchObject({ status: 'cancelled', filled: BTC(0.2).toString() });
    expect(await findHold(ctx.pool, row.hold_id)).toMatchObject({ status: 'released', captured: BTC(0.2).toString() });
    const again = await txmgr(['order', 'cancel', higherId, '--owner', seller.owner], env);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^InvalidState: orderId: order [0-9a-f-]+ is cancelled; only an open order can be cancelled/);
    const filled = await txmgr(['order', 'cancel', askId, '--owner', seller.owner], env);
    expect(filled.code).toBe(1);
    expect(filled.stderr).toMatch(/is filled; only an open order can be cancelled/);

    // --json for scripts: minor units and the human form side by side.
    const json = await txmgr(['order', 'show', bidId, '--json'], env);
    expect(JSON.parse(json.stdout)).toMatchObject({
      orderId: bidId,
      status: 'filled',
      filled: BTC(1.2).toString(),
      filledDisplay: '1.20000000 BTC',
      priceDisplay: '101.00 USD',
    });
    expect(await balanceOf(ctx.pool, seller.accounts.BTC!)).toEqual({ balance: BTC(0.8), pending: 0n });
    expect(await count(ctx.pool, `SELECT 1 FROM orders WHERE status = 'open'`)).toBe(0);
  } finally {
    await worker.stop();
  }
}, 180_000);

test('bad input is exit 2 naming the field, and nothing is written', async () => {
  const tq = ctx.taskQueue();
  const env = stackEnv(ctx.databaseUrl, tq);
  const worker = await startWorkerProcess(env);
  try {
    const t = await trader(ctx.pool, { BTC: BTC(1), USD: USD(100) });
    const buy = (...extra: string[]) => txmgr(['trade', 'buy', 'BTC-USD', '--owner', t.owner, ...extra], env);
    const cases: Array<[() => Promise<{ code: number | null; stderr: string }>, RegExp]> = [
      [() => buy('--qty', '0', '--price', '100.00'), /^ValidationError: .*quantity/],
      [() => buy('--qty', '-1', '--price', '100.00'), /^ValidationError: .*quantity/],
      [() => buy('--qty', '0.000000001', '--price', '100.00'), /quantity has 9 decimal places/],
      [() => buy('--qty', '1', '--price', '100.001'), /price has 3 decimal places/],
      [() => buy('--qty', '1', '--price', '1e3'), /^ValidationError: .*price/],
      [() => buy('--qty', '1', '--price', '9'.repeat(40)), /price is out of range/],
      [() => buy('--qty', '1', '--price', '100.00', '--tif', 'DAY'), /--tif must be one of IOC, FOK, GTC, GTD, got "DAY"/],
      [() => buy('--qty', '1', '--price', '100.00', '--tif', 'IOC', '--post-only'), /^ValidationError: .*postOnly/],
      [() => buy('--qty', '1', '--price', '100.00', '--client-order-id', 'x'.repeat(65)), /clientOrderId must be at most 64/],
      [() => buy('--qty', '1', '--price', '100.00', '--client-order-id', 'ordre-é'), /clientOrderId may hold letters/],
      [() => buy('--qty', '1'), /^UsageError: required option '--price <decimal>' not specified/],
      [
        () => txmgr(['trade', 'buy', 'DOGE-USD', '--owner', t.owner, '--qty', '1', '--price', '1.00'], env),
        /^ValidationError: market: unknown market "DOGE-USD"/,
      ],
      // Off the tick: refused by the saga's validation, before any write.
      [
        () => buy('--qty', '0.5', '--price', '100.01', '--tif', 'IOC'),
        /^ValidationError: price: 100\.01 USD is not a multiple of the tick/,
      ],
      [() => txmgr(['order', 'show', 'not-an-id'], env), /^ValidationError: orderId: .*UUID/],
      [() => txmgr(['order', 'show', randomUUID()], env), /^NotFound: order [0-9a-f-]+ does not exist/],
      [
        () => txmgr(['order', 'cancel', randomUUID(), '--owner', t.owner], env),
        /^NotFound: orderId: order [0-9a-f-]+ does not exist/,
      ],
      [() => txmgr(['book', 'NOPE-USD'], env), /^ValidationError: market: unknown market "NOPE-USD"/],
      [() => txmgr(['trades', 'BTC-USD', '--limit', '0'], env), /--limit must be a positive whole number/],
    ];
    for (const [run, message] of cases) {
      const r = await run();
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 2, stderr: expect.stringMatching(message) });
    }
    expect(await count(ctx.pool, 'SELECT 1 FROM orders WHERE owner = $1', [t.owner])).toBe(0);
    expect(await count(ctx.pool, `SELECT 1 FROM holds WHERE status = 'open'`)).toBe(0);
    expect(await balanceOf(ctx.pool, t.accounts.USD!)).toEqual({ balance: USD(100), pending: 0n });
  } finally {
    await worker.stop();
  }
}, 180_000);
