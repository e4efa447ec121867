import type { Pool, PoolClient } from 'pg';
import type { CampaignPlan, CampaignStatus } from '../../domain/campaign';

type Db = Pool | PoolClient;

/** Campaign rows, their state, rewards and tombstones; one function per statement. */

export interface CampaignRow {
  id: string;
  owner_account_id: string;
  name: string;
  type: string;
  status: CampaignStatus;
  asset: string;
  budget: string;
  reward_per_user: string;
  max_per_user: string;
  starts_at: Date;
  ends_at: Date;
  workflow_id: string;
  hold_id: string | null;
  reason: string | null;
  created_at: Date;
  updated_at: Date;
}

export interface CampaignStateRow {
  campaign_id: string;
  phase: 'initialised' | 'reserved' | 'active' | 'closed';
  rewards_paid: number;
  batches: number;
  spent: string;
  released: string;
}

/** Inserts the campaign unless it hits a unique key (id, workflow id or owner + name); undefined then. */
export async function insertCampaign(tx: PoolClient, p: CampaignPlan, workflowId: string): Promise<CampaignRow | undefined> {
  const { rows } = await tx.query<CampaignRow>(
    `INSERT INTO campaigns (id, owner_account_id, name, type, status, asset, budget, reward_per_user, max_per_user,
       starts_at, ends_at, workflow_id)
     VALUES ($1, $2, $3, $4, 'draft', $5, $6, $7, $8, $9, $10, $11)
     ON CONFLICT DO NOTHING RETURNING *`,
    [
      p.campaignId,
      p.ownerAccountId,
      p.name,
      p.type,
      p.asset,
      p.budget,
      p.rewardPerUser,
      p.maxPerUser,
      p.startsAt,
      p.endsAt,
      workflowId,
    ],
  );
  return rows[0];
}

export async function findCampaign(db: Db, id: string): Promise<CampaignRow | undefined> {
  const { rows } = await db.query<CampaignRow>('SELECT * FROM campaigns WHERE id = $1', [id]);
  return rows[0];
}

export async function lockCampaign(tx: PoolClient, id: string): Promise<CampaignRow | undefined> {
  const { rows } = await tx.query<CampaignRow>('SELECT * FROM campaigns WHERE id = $1 FOR UPDATE', [id]);
  return rows[0];
}

export async function findCampaignByOwnerName(db: Db, ownerAccountId: string, name: string): Promise<CampaignRow | undefined> {
  const { rows } = await db.query<CampaignRow>(
    'SELECT * FROM campaigns WHERE owner_account_id = $1 AND lower(name) = lower($2)',
    [ownerAccountId, name],
  );
  return rows[0];
}

export async function updateCampaignStatus(
  tx: PoolClient,
  id: string,
  status: CampaignStatus,
  extra: { holdId?: string; reason?: string } = {},
): Promise<void> {
  await tx.query(
    `UPDATE campaigns SET status = $2, hold_id = COALESCE($3, hold_id), reason = COALESCE($4, reason), updated_at = now()
     WHERE id = $1`,
    [id, status, extra.holdId ?? null, extra.reason ?? null],
  );
}

export async function deleteCampaign(tx: PoolClient, id: string): Promise<boolean> {
  const { rowCount } = await tx.query('DELETE FROM campaigns WHERE id = $1', [id]);
  return (rowCount ?? 0) > 0;
}

/** Serialises every attempt on one campaign id, the row existing or not (the fence of its inverse). */
export async function lockCampaignId(tx: PoolClient, id: string): Promise<void> {
  await tx.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 1))', [`campaign:${id}`]);
}

export async function insertCampaignTombstone(tx: PoolClient, t: { campaignId: string; workflowId: string; reason: string }) {
  await tx.query(
    'INSERT INTO campaign_tombstones (campaign_id, workflow_id, reason) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
    [t.campaignId, t.workflowId, t.reason],
  );
}

export async function findCampaignTombstone(db: Db, id: string) {
  const { rows } = await db.query<{ campaign_id: string; workflow_id: string; reason: string; created_at: Date }>(
    'SELECT * FROM campaign_tombstones WHERE campaign_id = $1',
    [id],
  );
  return rows[0];
}

export async function insertCampaignState(tx: PoolClient, campaignId: string): Promise<void> {
  await tx.query(`INSERT INTO campaign_state (campaign_id, phase) VALUES ($1, 'initialised') ON CONFLICT DO NOTHING`, [
    campaignId,
  ]);
}

export async function findCampaignState(db: Db, campaignId: string): Promise<CampaignStateRow | undefined> {
  const { rows } = await db.query<CampaignStateRow>('SELECT * FROM campaign_state WHERE campaign_id = $1', [campaignId]);
  return rows[0];
}

export async function updateCampaignState(
  tx: PoolClient,
  campaignId: string,
  s: { phase?: CampaignStateRow['phase']; paid?: number; spent?: bigint; released?: bigint; batch?: boolean },
): Promise<void> {
  await tx.query(
    `UPDATE campaign_state SET phase = COALESCE($2, phase), rewards_paid = rewards_paid + $3, spent = spent + $4,
       released = released + $5, batches = batches + $6, updated_at = now()
     WHERE campaign_id = $1`,
    [campaignId, s.phase ?? null, s.paid ?? 0, String(s.spent ?? 0n), String(s.released ?? 0n), s.batch ? 1 : 0],
  );
}

export async function deleteCampaignState(tx: PoolClient, campaignId: string): Promise<boolean> {
  const { rowCount } = await tx.query('DELETE FROM campaign_state WHERE campaign_id = $1', [campaignId]);
  return (rowCount ?? 0) > 0;
}

export async function countCampaignRewards(db: Db, campaignId: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>('SELECT COUNT(*)::int AS n FROM campaign_rewards WHERE campaign_id = $1', [
    campaignId,
  ]);
  return rows[0]?.n ?? 0;
}

/** The rewards already paid to any of these recipients by this campaign. */
export async function findCampaignRewards(
  tx: PoolClient,
  campaignId: string,
  accountIds: string[],
): Promise<Map<string, { amount: string; transfer_id: string }>> {
  const { rows } = await tx.query<{ recipient_account_id: string; amount: string; transfer_id: string }>(
    'SELECT recipient_account_id, amount, transfer_id FROM campaign_rewards WHERE campaign_id = $1 AND recipient_account_id = ANY($2::uuid[])',
    [campaignId, accountIds],
  );
  return new Map(rows.map((r) => [r.recipient_account_id, r]));
}

export async function insertCampaignRewards(
  tx: PoolClient,
  campaignId: string,
  batchId: string,
  rewards: Array<{ accountId: string; amount: bigint; transferId: string }>,
): Promise<void> {
  await tx.query(
    `INSERT INTO campaign_rewards (campaign_id, recipient_account_id, amount, transfer_id, batch_id)
     SELECT $1, r.account_id, r.amount, r.transfer_id, $2
     FROM unnest($3::uuid[], $4::numeric[], $5::uuid[]) AS r (account_id, amount, transfer_id)`,
    [
      campaignId,
      batchId,
      rewards.map((r) => r.accountId),
      rewards.map((r) => String(r.amount)),
      rewards.map((r) => r.transferId),
    ],
  );
}

export interface RewardBatchRow {
  campaign_id: string;
  batch_id: string;
  /** Recipient account id → minor units, every reward the batch asked for. */
  rewards: Record<string, string>;
  paid: number;
  already_paid: number;
  amount: string;
  spent: string;
  remaining: string;
}

export async function findRewardBatch(tx: PoolClient, campaignId: string, batchId: string): Promise<RewardBatchRow | undefined> {
  const { rows } = await tx.query<RewardBatchRow>(
    'SELECT * FROM campaign_reward_batches WHERE campaign_id = $1 AND batch_id = $2',
    [campaignId, batchId],
  );
  return rows[0];
}

export async function insertRewardBatch(
  tx: PoolClient,
  b: Omit<RewardBatchRow, 'campaign_id' | 'batch_id'> & { campaignId: string; batchId: string },
) {
  await tx.query(
    `INSERT INTO campaign_reward_batches (campaign_id, batch_id, rewards, paid, already_paid, amount, spent, remaining)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
    [b.campaignId, b.batchId, JSON.stringify(b.rewards), b.paid, b.already_paid, b.amount, b.spent, b.remaining],
  );
}
