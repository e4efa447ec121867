import type { Pool } from 'pg';

/**
 * The campaign invariants, next to DESIGN.md §3: the state agrees with the rewards paid,
 * the budget hold with the state (captured = spent, open while the campaign can pay, closed
 * after), nothing survives an undone campaign, and no reward without its transfer.
 */
export async function checkCampaignInvariants(pool: Pool): Promise<string[]> {
  const violations: string[] = [];
  const q = async (sql: string, what: (r: Record<string, string>) => string) => {
    const { rows } = await pool.query<Record<string, string>>(sql);
    for (const r of rows) violations.push(what(r));
  };

  await q(
    `SELECT c.id FROM campaigns c LEFT JOIN campaign_state s ON s.campaign_id = c.id
     WHERE c.status <> 'draft' AND s.campaign_id IS NULL`,
    (r) => `campaign ${r.id} has no state row`,
  );
  await q(
    `SELECT s.campaign_id, s.spent::text, s.rewards_paid::text AS paid, COALESCE(SUM(r.amount), 0)::text AS rewarded, COUNT(r.*)::text AS n
     FROM campaign_state s LEFT JOIN campaign_rewards r ON r.campaign_id = s.campaign_id
     GROUP BY s.campaign_id HAVING s.spent <> COALESCE(SUM(r.amount), 0) OR s.rewards_paid <> COUNT(r.*)`,
    (r) => `campaign ${r.campaign_id}: state says ${r.paid} rewards / ${r.spent} spent, rewards table ${r.n} / ${r.rewarded}`,
  );
  await q(
    `SELECT c.id FROM campaigns c JOIN campaign_state s ON s.campaign_id = c.id WHERE s.spent > c.budget`,
    (r) => `campaign ${r.id} spent more than its budget`,
  );
  await q(
    `SELECT c.id, c.status, h.status AS hold_status FROM campaigns c
     JOIN campaign_state s ON s.campaign_id = c.id LEFT JOIN holds h ON h.id = c.hold_id
     WHERE (c.status IN ('scheduled', 'active') AND (h.id IS NULL OR h.status <> 'open' OR h.amount <> c.budget))
        OR (c.status IN ('completed', 'cancelled') AND h.status = 'open')
        OR (h.id IS NOT NULL AND h.captured <> s.spent)
        OR (c.status IN ('completed', 'cancelled') AND h.id IS NOT NULL AND h.released <> s.released)`,
    (r) => `campaign ${r.id} (${r.status}): its budget hold (${r.hold_status ?? 'none'}) disagrees with its state`,
  );
  await q(
    `SELECT DISTINCT r.campaign_id, c.status FROM campaign_rewards r JOIN campaigns c ON c.id = r.campaign_id
     WHERE c.status NOT IN ('active', 'completed', 'cancelled')`,
    (r) => `campaign ${r.campaign_id} paid rewards while ${r.status}`,
  );
  await q(
    `SELECT t.campaign_id FROM campaign_tombstones t
     WHERE EXISTS (SELECT 1 FROM campaigns c WHERE c.id = t.campaign_id)
        OR EXISTS (SELECT 1 FROM campaign_state s WHERE s.campaign_id = t.campaign_id)`,
    (r) => `campaign ${r.campaign_id} was undone but its record or state remains`,
  );
  await q(
    `SELECT r.campaign_id, r.recipient_account_id FROM campaign_rewards r LEFT JOIN transfers t ON t.id = r.transfer_id
     WHERE t.id IS NULL OR t.amount <> r.amount OR t.credit_account_id <> r.recipient_account_id`,
    (r) => `reward of campaign ${r.campaign_id} to ${r.recipient_account_id} has no matching transfer`,
  );
  return violations;
}
