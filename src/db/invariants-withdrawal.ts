import type { Pool } from 'pg';

/**
 * Crypto withdrawal invariants (DESIGN §3, items 3, 4 and 6 for withdrawals): each
 * withdrawal's hold matches it, a completed one paid the chain and the fee account exactly
 * once, a released one paid nothing, and no account's withdrawals ever passed the daily limit.
 */
export async function checkWithdrawalInvariants(pool: Pool): Promise<string[]> {
  const problems: string[] = [];
  const { rows: holds } = await pool.query<{ id: string; status: string; hold_status: string | null; problem: string }>(
    `SELECT w.id, w.status, h.status AS hold_status,
            CASE
              WHEN h.id IS NULL THEN 'has no hold'
              WHEN h.amount <> w.amount + w.fee THEN 'hold amount is not amount plus fee'
              WHEN w.status = 'COMPLETED' AND (h.status <> 'captured' OR h.captured <> h.amount) THEN 'is completed but its hold is not captured in full'
              WHEN w.status = 'RELEASED' AND (h.status <> 'released' OR h.captured <> 0) THEN 'is released but its hold is ' || h.status
              WHEN w.status IN ('HELD', 'BROADCAST') AND h.status <> 'open' THEN 'is ' || w.status || ' but its hold is ' || h.status
            END AS problem
       FROM withdrawals w LEFT JOIN holds h ON h.id = w.hold_id`,
  );
  for (const r of holds) if (r.problem) problems.push(`withdrawal ${r.id} ${r.problem}`);

  const { rows: paid } = await pool.query<{
    id: string;
    status: string;
    chain_n: string;
    chain_sum: string;
    fee_n: string;
    fee_sum: string;
    amount: string;
    fee: string;
  }>(
    `SELECT w.id, w.status, w.amount, w.fee,
            (SELECT count(*) FROM transfers t WHERE t.step = 'withdrawal-chain:' || w.id) AS chain_n,
            (SELECT COALESCE(sum(amount), 0) FROM transfers t WHERE t.step = 'withdrawal-chain:' || w.id) AS chain_sum,
            (SELECT count(*) FROM transfers t WHERE t.step = 'withdrawal-fee:' || w.id) AS fee_n,
            (SELECT COALESCE(sum(amount), 0) FROM transfers t WHERE t.step = 'withdrawal-fee:' || w.id) AS fee_sum
       FROM withdrawals w`,
  );
  for (const r of paid) {
    if (r.status === 'COMPLETED') {
      if (r.chain_n !== '1' || r.chain_sum !== r.amount)
        problems.push(`withdrawal ${r.id} paid the chain ${r.chain_n} times (${r.chain_sum}), expected once (${r.amount})`);
      const feeTimes = BigInt(r.fee) > 0n ? '1' : '0';
      if (r.fee_n !== feeTimes || r.fee_sum !== r.fee)
        problems.push(`withdrawal ${r.id} paid the fee ${r.fee_n} times (${r.fee_sum}), expected ${r.fee}`);
    } else if (r.chain_n !== '0' || r.fee_n !== '0') {
      problems.push(`withdrawal ${r.id} is ${r.status} but paid the chain ${r.chain_n} and the fee ${r.fee_n} times`);
    }
  }

  const { rows: limits } = await pool.query<{ id: string; total: string; daily_limit: string }>(
    `SELECT w.id, sum(o.amount)::text AS total, r.daily_limit::text AS daily_limit
       FROM withdrawals w
       JOIN withdrawal_rules r ON r.asset = w.asset
       JOIN withdrawals o ON o.account_id = w.account_id AND o.asset = w.asset AND o.status <> 'RELEASED'
                          AND o.created_at > w.created_at - interval '24 hours' AND o.created_at <= w.created_at
      WHERE w.status <> 'RELEASED'
      GROUP BY w.id, r.daily_limit
     HAVING sum(o.amount) > r.daily_limit`,
  );
  for (const r of limits)
    problems.push(`withdrawals up to ${r.id} total ${r.total} in 24 hours, over the daily limit ${r.daily_limit}`);
  return problems;
}
