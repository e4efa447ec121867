import type { Pool } from 'pg';

/**
 * The trade invariants (DESIGN.md §3, 6) beside the ledger's: one line per violation.
 * - every order's filled quantity is the sum of its fills (as taker and as maker);
 * - each order's hold captured exactly what its fills settled (a buyer: notional plus positive
 *   fee; a seller: the base quantity) — no fill without its settlement, no capture without a fill;
 * - no open hold of an order that is not open, and an open order keeps an open hold (unless filled);
 * - no negative balance on a user account.
 */
export async function checkTradeInvariants(pool: Pool): Promise<string[]> {
  const violations: string[] = [];
  const filled = await pool.query<{ id: string; filled: string; fills: string }>(
    `SELECT o.id, o.filled::text, COALESCE(SUM(f.quantity), 0)::text AS fills
       FROM orders o LEFT JOIN fills f ON f.taker_order_id = o.id OR f.maker_order_id = o.id
      GROUP BY o.id HAVING o.filled <> COALESCE(SUM(f.quantity), 0)`,
  );
  for (const r of filled.rows) violations.push(`order ${r.id}: filled ${r.filled} but its fills sum to ${r.fills}`);

  const captured = await pool.query<{ id: string; captured: string; settled: string }>(
    `WITH settled AS (
       SELECT o.id, o.hold_id,
              COALESCE(SUM(CASE WHEN o.side = 'sell' THEN f.quantity
                                ELSE f.quote_amount + GREATEST(CASE WHEN f.taker_order_id = o.id THEN f.taker_fee ELSE f.maker_fee END, 0) END), 0) AS amount
         FROM orders o LEFT JOIN fills f ON f.taker_order_id = o.id OR f.maker_order_id = o.id
        GROUP BY o.id, o.hold_id)
     SELECT s.id, h.captured::text, s.amount::text AS settled
       FROM settled s JOIN holds h ON h.id = s.hold_id
      WHERE h.captured <> s.amount
         OR h.captured <> (SELECT COALESCE(SUM(t.amount), 0) FROM transfers t WHERE t.hold_id = h.id)`,
  );
  for (const r of captured.rows)
    violations.push(`order ${r.id}: its hold captured ${r.captured} but its fills settle ${r.settled}`);

  const holds = await pool.query<{ id: string; status: string; hold: string }>(
    `SELECT o.id, o.status, h.status AS hold FROM orders o JOIN holds h ON h.id = o.hold_id
      WHERE (h.status = 'open') <> (o.status = 'open')`,
  );
  for (const r of holds.rows) violations.push(`order ${r.id} is ${r.status} but its hold is ${r.hold}`);

  const negative = await pool.query<{ id: string }>(
    `SELECT id FROM accounts WHERE kind = 'user' AND credits_posted - debits_posted - debits_pending < 0`,
  );
  for (const r of negative.rows) violations.push(`account ${r.id} has a negative available balance`);
  return violations;
}
