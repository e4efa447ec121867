-- Up Migration
-- The fee rates an order was accepted with (bps, from its market at placement): its hold was
-- reserved for them, so its fills pay them even if the market's fees change while it rests.
ALTER TABLE orders ADD COLUMN maker_fee_bps integer, ADD COLUMN taker_fee_bps integer;
UPDATE orders o SET maker_fee_bps = m.maker_fee_bps, taker_fee_bps = m.taker_fee_bps FROM markets m WHERE m.symbol = o.market;
ALTER TABLE orders ALTER COLUMN maker_fee_bps SET NOT NULL, ALTER COLUMN taker_fee_bps SET NOT NULL;

-- Down Migration
ALTER TABLE orders DROP COLUMN maker_fee_bps, DROP COLUMN taker_fee_bps;
