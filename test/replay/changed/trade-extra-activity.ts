/**
 * A small, realistic unversioned change: the trade saga reads the market config before it
 * validates (one activity added, everything else the real code). Replay must notice.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../../../src/activities';
import type { OrderState, TradeInput } from '../../../src/domain/trade';
import { executeTrade as current } from '../../../src/workflows/trade';

const acts = proxyActivities<Activities>({ startToCloseTimeout: '1 minute' });

export async function executeTrade(input: TradeInput): Promise<OrderState> {
  await acts.readMarketConfig(input.market);
  return current(input);
}
