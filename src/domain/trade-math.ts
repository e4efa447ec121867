/**
 * Trade arithmetic in minor units: pure bigint, no floats.
 *
 * A price is quote minor units per one whole base unit (10^baseScale base minor units); a
 * quantity is base minor units. Rounding rule: notional and fees are rounded DOWN to a whole
 * minor unit, and the fraction stays with the one who would have paid it — the buyer keeps the
 * fraction of a notional, a fee payer the fraction of a fee, the fee account the fraction of a
 * rebate. Every leg of a settlement is then a whole transfer between two accounts, so a fill
 * can neither create nor destroy a minor unit (the property test in test/unit/trade-math.test.ts).
 * Rounding down also makes fills subadditive: the sum of several fills' amounts never exceeds
 * the amount reserved for their total at the order's limit, so a hold always covers its fills.
 */

export const BPS = 10_000n;

/** floor(price × quantity / 10^baseScale): what the buyer pays the seller. */
export function notional(price: bigint, quantity: bigint, baseScale: number): bigint {
  return (price * quantity) / 10n ** BigInt(baseScale);
}

/** A fee (positive bps) or a rebate (negative bps, a negative result), rounded toward zero. */
export function feeFor(quoteAmount: bigint, bps: number): bigint {
  const b = BigInt(bps);
  return b >= 0n ? (quoteAmount * b) / BPS : -((quoteAmount * -b) / BPS);
}

/** The highest fee rate an order may pay: it can be a taker first and a maker later. */
export const maxFeeBps = (makerFeeBps: number, takerFeeBps: number): number => Math.max(makerFeeBps, takerFeeBps, 0);

/** What an order reserves: a buy the notional at its limit plus the most fee it can pay; a sell its base quantity. */
export function reserveFor(
  o: { side: 'buy' | 'sell'; price: bigint; quantity: bigint },
  m: { baseScale: number; makerFeeBps: number; takerFeeBps: number },
): bigint {
  if (o.side === 'sell') return o.quantity;
  const n = notional(o.price, o.quantity, m.baseScale);
  return n + feeFor(n, maxFeeBps(m.makerFeeBps, m.takerFeeBps));
}

export interface FillAmounts {
  /** The notional in quote minor units. */
  quoteAmount: bigint;
  /** Fees in quote minor units (a negative one is a rebate). */
  buyerFee: bigint;
  sellerFee: bigint;
}

/**
 * The ledger legs of one fill. The buyer's quote hold is captured into escrow for the notional
 * plus its fee (if positive); the seller's base hold is captured into escrow for the quantity;
 * escrow pays out the base to the buyer, the notional less the seller's fee to the seller and
 * the fees to the fee account; the fee account pays any rebate.
 */
export interface SettlementLegs {
  buyerCapture: bigint;
  sellerCapture: bigint;
  escrowToBuyerBase: bigint;
  escrowToSellerQuote: bigint;
  escrowToFees: bigint;
  feesToBuyer: bigint;
  feesToSeller: bigint;
}

const pos = (v: bigint): bigint => (v > 0n ? v : 0n);

export function fillAmounts(
  price: bigint,
  quantity: bigint,
  m: { baseScale: number; makerFeeBps: number; takerFeeBps: number },
  takerSide: 'buy' | 'sell',
): FillAmounts {
  const quoteAmount = notional(price, quantity, m.baseScale);
  const taker = feeFor(quoteAmount, m.takerFeeBps);
  const maker = feeFor(quoteAmount, m.makerFeeBps);
  return takerSide === 'buy'
    ? { quoteAmount, buyerFee: taker, sellerFee: maker }
    : { quoteAmount, buyerFee: maker, sellerFee: taker };
}

export function settlementLegs(quantity: bigint, a: FillAmounts): SettlementLegs {
  return {
    buyerCapture: a.quoteAmount + pos(a.buyerFee),
    sellerCapture: quantity,
    escrowToBuyerBase: quantity,
    escrowToSellerQuote: a.quoteAmount - pos(a.sellerFee),
    escrowToFees: pos(a.buyerFee) + pos(a.sellerFee),
    feesToBuyer: pos(-a.buyerFee),
    feesToSeller: pos(-a.sellerFee),
  };
}

/** Does a taker at `takerPrice` cross a resting order at `makerPrice`? */
export const crosses = (takerSide: 'buy' | 'sell', takerPrice: bigint, makerPrice: bigint): boolean =>
  takerSide === 'buy' ? makerPrice <= takerPrice : makerPrice >= takerPrice;

/** Is `price` within `bandBps` of the reference price? No reference (no trade yet): anything goes. */
export function withinBand(price: bigint, reference: bigint | undefined, bandBps: number): boolean {
  if (reference === undefined || reference <= 0n) return true;
  const diff = price > reference ? price - reference : reference - price;
  return diff * BPS <= reference * BigInt(bandBps);
}
