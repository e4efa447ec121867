import fc from 'fast-check';
import { feeFor, fillAmounts, notional, reserveFor, settlementLegs, withinBand } from '../../src/domain/trade-math';

const market = fc.record({
  baseScale: fc.integer({ min: 0, max: 18 }),
  makerFeeBps: fc.integer({ min: -100, max: 1000 }),
  takerFeeBps: fc.integer({ min: 0, max: 1000 }),
});
const amount = fc.bigInt({ min: 1n, max: 10n ** 15n });

describe('trade arithmetic', () => {
  test('a fill neither creates nor destroys a minor unit: every leg is whole and escrow nets to zero', () => {
    fc.assert(
      fc.property(
        market,
        fc.array(fc.tuple(amount, amount, fc.constantFrom('buy', 'sell' as const)), { maxLength: 50 }),
        (m, fills) => {
          // A toy ledger of the legs' accounts: the sum over accounts of each asset stays zero.
          const quote = { buyer: 0n, seller: 0n, escrow: 0n, fees: 0n };
          const base = { buyer: 0n, seller: 0n, escrow: 0n };
          for (const [price, quantity, takerSide] of fills) {
            const a = fillAmounts(price, quantity, m, takerSide);
            const legs = settlementLegs(quantity, a);
            for (const v of Object.values(legs)) expect(v >= 0n).toBe(true);
            quote.buyer -= legs.buyerCapture;
            quote.escrow += legs.buyerCapture - legs.escrowToSellerQuote - legs.escrowToFees;
            quote.seller += legs.escrowToSellerQuote + legs.feesToSeller;
            quote.fees += legs.escrowToFees - legs.feesToBuyer - legs.feesToSeller;
            quote.buyer += legs.feesToBuyer;
            base.seller -= legs.sellerCapture;
            base.escrow += legs.sellerCapture - legs.escrowToBuyerBase;
            base.buyer += legs.escrowToBuyerBase;
            // What each side pays and gets is the notional and its own fee, nothing else.
            expect(legs.buyerCapture - legs.feesToBuyer).toBe(a.quoteAmount + a.buyerFee);
            expect(legs.escrowToSellerQuote + legs.feesToSeller).toBe(a.quoteAmount - a.sellerFee);
          }
          expect(quote.escrow).toBe(0n);
          expect(base.escrow).toBe(0n);
          expect(quote.buyer + quote.seller + quote.escrow + quote.fees).toBe(0n);
          expect(base.buyer + base.seller + base.escrow).toBe(0n);
        },
      ),
      { numRuns: 500 },
    );
  });

  test('rounding down keeps a buy order’s fills within its hold, however the quantity is split and priced', () => {
    fc.assert(
      fc.property(
        market,
        amount,
        fc.array(fc.tuple(fc.bigInt({ min: 1n, max: 10n ** 12n }), fc.double({ min: 0, max: 1, noNaN: true }), fc.boolean()), {
          minLength: 1,
          maxLength: 40,
        }),
        fc.bigInt({ min: 1n, max: 10n ** 12n }),
        (m, limit, parts, quantityTotal) => {
          const reserved = reserveFor({ side: 'buy', price: limit, quantity: quantityTotal }, m);
          let left = quantityTotal;
          let captured = 0n;
          for (const [q, priceFraction, asTaker] of parts) {
            const quantity = q > left ? left : q;
            if (quantity === 0n) break;
            left -= quantity;
            // A fill at the limit or better (lower), as taker or maker.
            const price = limit - (limit * BigInt(Math.floor(priceFraction * 1000))) / 1000n || 1n;
            const a = fillAmounts(price > limit ? limit : price, quantity, m, asTaker ? 'buy' : 'sell');
            captured += settlementLegs(quantity, a).buyerCapture;
          }
          expect(captured <= reserved).toBe(true);
        },
      ),
      { numRuns: 500 },
    );
  });

  test('notional and fees round down: the payer keeps the fraction', () => {
    expect(notional(10001n, 1n, 2)).toBe(100n); // 100.01 × 0.01 = 1.0001 → 1.00
    expect(feeFor(999n, 10)).toBe(0n);
    expect(feeFor(10_000n, -5)).toBe(-5n);
    expect(feeFor(9_999n, -5)).toBe(-4n); // the rebate's fraction stays with the fee account
    expect(withinBand(105n, 100n, 500)).toBe(true);
    expect(withinBand(106n, 100n, 500)).toBe(false);
    expect(withinBand(1n, undefined, 1)).toBe(true);
  });
});
