import type { TxmgrClient } from './client';
import { cancelOrder, executeTrade, getBook, listTrades, placeTrade, type OrderView } from './client/trades';
import type { executeTrade as executeTradeWorkflow } from './workflows';

/**
 * The demo's trade section: a seller rests three asks, a buyer crosses all three levels
 * at the makers' prices, a later buyer fills the rest of the partly filled ask, and a bid
 * that rests is cancelled by its owner. Needs BTC-USD active (examples/config/markets.json).
 */
export async function demoTrades(txmgr: TxmgrClient, say: (line: string) => void, run: string): Promise<void> {
  const seller = `sam-${run}`;
  const buyer = `bea-${run}`;
  for (const [owner, asset, amount] of [
    [seller, 'BTC', '0.5'],
    [buyer, 'USD', '100.00'],
    [buyer, 'BTC', ''],
    [seller, 'USD', ''],
  ] as const) {
    const account = await txmgr.openAccount({ owner, asset });
    if (amount) {
      await txmgr.depositFiat({
        accountId: account.accountId,
        asset,
        amount,
        bankReference: `DEMO-${run}-${owner}-${asset}`,
        senderName: owner,
      });
    }
  }
  const line = (label: string, o: OrderView) =>
    say(
      `${label.padEnd(39)} -> ${o.status}: filled ${o.filledDisplay} of ${o.quantityDisplay}${o.closeReason ? ` (${o.closeReason})` : ''}`,
    );
  const asks = [];
  for (const price of ['100.00', '100.50', '101.00']) {
    asks.push(await placeTrade(txmgr, { owner: seller, market: 'BTC-USD', side: 'sell', quantity: '0.1', price }));
  }
  say(`5. ${seller} rests asks of 0.1 BTC at 100.00, 100.50 and 101.00 USD`);
  line(
    `6. ${buyer} buys 0.25 BTC up to 101.00 IOC`,
    await executeTrade(txmgr, { owner: buyer, market: 'BTC-USD', side: 'buy', quantity: '0.25', price: '101.00', tif: 'IOC' }),
  );
  for (const t of (await listTrades(txmgr.pool, 'BTC-USD', 3)).reverse()) {
    say(`   trade ${t.quantityDisplay} at ${t.priceDisplay} = ${t.quoteAmountDisplay}`);
  }
  await executeTrade(txmgr, { owner: buyer, market: 'BTC-USD', side: 'buy', quantity: '0.05', price: '101.00', tif: 'IOC' });
  const rested = await txmgr.temporal.workflow.getHandle<typeof executeTradeWorkflow>(asks[2]!.workflowId).result();
  say(`7. the ask at 101.00 rested half filled; a later buy of 0.05 BTC filled it -> ${rested.status}`);
  const bid = await placeTrade(txmgr, { owner: buyer, market: 'BTC-USD', side: 'buy', quantity: '0.1', price: '95.00' });
  const book = await getBook(txmgr.pool, 'BTC-USD', 3);
  say(`8. ${buyer} rests a bid of 0.1 BTC at 95.00; best bid now ${book.bids[0]?.priceDisplay ?? '-'} USD`);
  line('   cancelled by its owner', await cancelOrder(txmgr, bid.orderId, buyer));
}
