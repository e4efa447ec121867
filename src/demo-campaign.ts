import type { TxmgrClient } from './client';
import { cancelCampaign, createCampaign, getCampaign, payRewards } from './client/campaigns';

/** The demo's campaign part: one campaign pays a few rewards and ends early, another is cancelled before it starts. */
export async function runCampaignDemo(
  txmgr: TxmgrClient,
  o: { owner: string; recipients: string[]; run: string; say: (line: string) => void },
): Promise<void> {
  const spring = await createCampaign(txmgr, {
    ownerAccountId: o.owner,
    name: `spring-${o.run}`,
    budget: '100.00',
    rewardPerUser: '5.00',
  });
  o.say(`11. campaign spring, budget 100.00 USD  -> ${spring.status}; budget held on the owner's account`);
  const paid = await payRewards(
    txmgr,
    spring.campaignId,
    o.recipients.map((accountId) => ({ accountId })),
  );
  o.say(
    `   ${paid.paid} reward(s) of 5.00 USD paid as one batch -> spent ${(await getCampaign(txmgr.pool, spring.campaignId)).spent} USD`,
  );
  const ended = await cancelCampaign(txmgr, spring.campaignId, 'demo over');
  const view = await getCampaign(txmgr.pool, spring.campaignId);
  o.say(`   ended early                          -> ${ended.status}: ${view.spent} USD spent, ${view.released} USD released`);

  const later = new Date(Date.now() + 3_600_000).toISOString();
  const summer = await createCampaign(txmgr, {
    ownerAccountId: o.owner,
    name: `summer-${o.run}`,
    budget: '50.00',
    startsAt: later,
  });
  const undone = await cancelCampaign(txmgr, summer.campaignId, 'plans changed');
  o.say(`12. campaign summer, starts in an hour  -> ${summer.status}; cancelled: ${undone.outcome} (nothing left behind)`);
}
