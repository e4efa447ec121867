import type { Command } from 'commander';
import { InvalidOptionValue, handler, positiveInt, required } from './command';
import { cancelOrder, executeTrade, getBook, getOrder, listTrades, placeTrade, type OrderView } from '../trades';
import { badInput, printJson, printLine, printRecord, printTable } from './printer';
import { requireWorker } from './wait';

const TIFS = ['IOC', 'FOK', 'GTC', 'GTD'];

const tifOption = (v: string): string => {
  const t = v.toUpperCase();
  if (!TIFS.includes(t)) throw new InvalidOptionValue(`--tif must be one of ${TIFS.join(', ')}, got "${v}"`);
  return t;
};

/** `--expires 30s|10m|2h` or an ISO time, as an ISO time. */
const expiresOption = (v: string): string => {
  const m = /^([1-9][0-9]{0,6})([smhd])$/.exec(v);
  if (m) {
    const unit = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 's' | 'm' | 'h' | 'd'];
    return new Date(Date.now() + Number(m[1]) * unit).toISOString();
  }
  if (Number.isNaN(Date.parse(v))) throw new InvalidOptionValue(`--expires must be like 30s, 10m, 2h or an ISO time, got "${v}"`);
  return new Date(v).toISOString();
};

function printOrder(o: OrderView): void {
  printRecord([
    ['order', o.orderId],
    ['owner', o.owner],
    ['market', o.market],
    ['side', `${o.side} ${o.type} ${o.tif}${o.postOnly ? ' post-only' : ''}`],
    ['price', `${o.priceDisplay} (${o.price} minor)`],
    ['quantity', `${o.quantityDisplay} (${o.quantity} minor)`],
    ['filled', o.filledDisplay],
    ['status', `${o.status}${o.closeReason ? ` (${o.closeReason})` : ''}`],
    ['expires', o.expiresAt],
    ['saga', o.workflowId],
  ]);
}

function tradeCommand(program: Command): void {
  const trade = program.command('trade').description('place an order: a buy or a sell on a market');
  for (const side of ['buy', 'sell'] as const) {
    const cmd = trade
      .command(`${side} <market>`)
      .description(`${side} on a market; IOC/FOK end at once, GTC/GTD rest on the book (the command returns once placed)`)
      .option('--tif <tif>', 'time in force: IOC, FOK, GTC (default) or GTD', tifOption)
      .option('--market-order', 'a market order: --price is then its worst acceptable price (it never rests)')
      .option('--post-only', 'refuse the order if it would take liquidity')
      .option('--expires <when>', 'GTD expiry: 30s, 10m, 2h or an ISO time (implies --tif GTD)', expiresOption)
      .option('--client-order-id <id>', 'your id for the order; the same id again returns the same order');
    required(cmd, '--owner <owner>', 'who trades (their accounts in both assets are used)');
    required(cmd, '--qty <decimal>', 'quantity in the base asset, e.g. 0.5');
    required(cmd, '--price <decimal>', 'limit price in the quote asset per one base unit, e.g. 50000.00');
    cmd.action(
      handler(
        async (
          ctx,
          out,
          market: string,
          o: {
            owner: string;
            qty: string;
            price: string;
            tif?: string;
            marketOrder?: boolean;
            postOnly?: boolean;
            expires?: string;
            clientOrderId?: string;
          },
        ) => {
          const txmgr = await ctx.txmgr();
          await requireWorker(txmgr.temporal, ctx.taskQueue);
          const tif = (o.tif ?? (o.expires ? 'GTD' : o.marketOrder ? 'IOC' : 'GTC')) as 'IOC' | 'FOK' | 'GTC' | 'GTD';
          const request = {
            owner: o.owner,
            market,
            side,
            type: o.marketOrder ? ('market' as const) : ('limit' as const),
            quantity: o.qty,
            price: o.price,
            tif,
            postOnly: o.postOnly ?? false,
            expiresAt: o.expires,
            clientOrderId: o.clientOrderId,
          };
          const view = tif === 'IOC' || tif === 'FOK' ? await executeTrade(txmgr, request) : await placeTrade(txmgr, request);
          if (out.json) return printJson(view);
          printOrder(view);
        },
      ),
    );
  }
}

function orderCommands(program: Command): void {
  const order = program.command('order').description('an order: show it, cancel it');
  order
    .command('show <orderId>')
    .description('an order as recorded: price, quantity, filled, status')
    .action(
      handler(async (ctx, out, orderId: string) => {
        const view = await getOrder(await ctx.db(), orderId);
        if (!view) throw badInput('NotFound', `order ${orderId} does not exist`, 'check the order id (txmgr trade prints it)');
        if (out.json) return printJson(view);
        printOrder(view);
      }),
    );
  const cancel = order.command('cancel <orderId>').description('cancel a resting order (only its owner; only while open)');
  required(cancel, '--owner <owner>', 'the owner of the order');
  cancel.action(
    handler(async (ctx, out, orderId: string, o: { owner: string }) => {
      const txmgr = await ctx.txmgr();
      const view = await cancelOrder(txmgr, orderId, o.owner);
      if (out.json) return printJson(view);
      printOrder(view);
    }),
  );
}

function marketCommands(program: Command): void {
  program
    .command('book <market>')
    .description("a market's depth: resting quantity per price level, best first")
    .option('--depth <n>', 'levels per side (default 10)', positiveInt('--depth'))
    .action(
      handler(async (ctx, out, market: string, o: { depth?: number }) => {
        const book = await getBook(await ctx.db(), market, o.depth ?? 10);
        if (out.json) return printJson(book);
        const rows = Array.from({ length: Math.max(book.bids.length, book.asks.length) }, (_, i) => ({
          bidOrders: book.bids[i]?.orders,
          bidQty: book.bids[i]?.quantityDisplay,
          bid: book.bids[i]?.priceDisplay,
          ask: book.asks[i]?.priceDisplay,
          askQty: book.asks[i]?.quantityDisplay,
          askOrders: book.asks[i]?.orders,
        }));
        const [base, quote] = book.market.split('-');
        printLine(`${book.market} (prices in ${quote}, quantities in ${base})`);
        printTable(
          [
            ['bidOrders', 'orders'],
            ['bidQty', 'bid qty'],
            ['bid', 'bid'],
            ['ask', 'ask'],
            ['askQty', 'ask qty'],
            ['askOrders', 'orders'],
          ],
          rows,
        );
      }),
    );
  program
    .command('trades <market>')
    .description("a market's latest trades, newest first")
    .option('--limit <n>', 'how many (default 20)', positiveInt('--limit'))
    .action(
      handler(async (ctx, out, market: string, o: { limit?: number }) => {
        const trades = await listTrades(await ctx.db(), market, o.limit ?? 20);
        if (out.json) return printJson(trades);
        printTable(
          [
            ['at', 'time'],
            ['takerSide', 'taker'],
            ['priceDisplay', 'price'],
            ['quantityDisplay', 'quantity'],
            ['quoteAmountDisplay', 'amount'],
          ],
          trades.map((t) => ({ ...t })),
        );
      }),
    );
}

/** `txmgr trade buy|sell`, `txmgr order show|cancel`, `txmgr book`, `txmgr trades`. */
export function registerTradeCommands(program: Command): void {
  tradeCommand(program);
  orderCommands(program);
  marketCommands(program);
}
