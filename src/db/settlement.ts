import type { PoolClient } from 'pg';
import { captureIdFor, transferIdFor } from '../domain/ids';
import type { settlementLegs } from '../domain/trade-math';
import { captureHold, postTransfer } from './ledger';
import type { OrderRow } from './queries/orders';

/** The settlement of one fill: its ledger legs, inside the matching transaction. */

export interface Houses {
  escrowBase: string;
  escrowQuote: string;
  feesQuote: string;
}

export interface Party {
  orderId: string;
  holdId: string;
  baseAccountId: string;
  quoteAccountId: string;
}

export const party = (r: OrderRow): Party => ({
  orderId: r.id,
  holdId: r.hold_id,
  baseAccountId: r.base_account_id,
  quoteAccountId: r.quote_account_id,
});

/** Settles one fill: captures both holds into escrow, pays out base, quote and fees. */
export async function settleFill(
  tx: PoolClient,
  f: { fillId: string; quantity: bigint; buyer: Party; seller: Party; legs: ReturnType<typeof settlementLegs> },
  h: Houses,
  assets: { base: string; quote: string },
  workflowId: string | undefined,
): Promise<void> {
  const { legs } = f;
  const key = (leg: string) => `${f.fillId}:${leg}`;
  const step = `trade-fill:${f.fillId}`;
  if (legs.buyerCapture > 0n) {
    await captureHold(tx, {
      transferId: captureIdFor(key('buyer')),
      holdId: f.buyer.holdId,
      amount: legs.buyerCapture,
      workflowId,
      step,
    });
  }
  await captureHold(tx, {
    transferId: captureIdFor(key('seller')),
    holdId: f.seller.holdId,
    amount: legs.sellerCapture,
    workflowId,
    step,
  });
  const pay = async (leg: string, from: string, to: string, asset: string, amount: bigint) => {
    if (amount > 0n) {
      await postTransfer(tx, {
        id: transferIdFor(key(leg)),
        debitAccountId: from,
        creditAccountId: to,
        asset,
        amount,
        workflowId,
        step,
      });
    }
  };
  await pay('base', h.escrowBase, f.buyer.baseAccountId, assets.base, legs.escrowToBuyerBase);
  await pay('quote', h.escrowQuote, f.seller.quoteAccountId, assets.quote, legs.escrowToSellerQuote);
  await pay('fees', h.escrowQuote, h.feesQuote, assets.quote, legs.escrowToFees);
  await pay('rebate-buyer', h.feesQuote, f.buyer.quoteAccountId, assets.quote, legs.feesToBuyer);
  await pay('rebate-seller', h.feesQuote, f.seller.quoteAccountId, assets.quote, legs.feesToSeller);
}
