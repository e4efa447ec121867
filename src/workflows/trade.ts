import { proxyActivities, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { TRADE_DEADLINE_MINUTES, type OrderState, type TradeInput } from '../domain/trade';
import { holdIdFor, stepId } from '../domain/ids';
import { ACCOUNT_ID } from '../temporal/search-attributes';
import { COMPENSATION_OPTIONS, MUST_COMPLETE_OPTIONS } from './retry-policies';
import { Saga } from './saga';
import { OrderHandle, tellMakers } from './trade-resting';

export { cancelOrderUpdate, orderFilledSignal, orderStateQuery } from './trade-messages';

const undo = proxyActivities<Activities>(COMPENSATION_OPTIONS);
const mustComplete = proxyActivities<Activities>(MUST_COMPLETE_OPTIONS);

/**
 * Trade execution: validate against the market → reserve funds, a hold into escrow (release) →
 * place and match in one database transaction (fills and their settlement; a filled, IOC, FOK
 * or market order is closed and its leftover hold released in that same transaction) → a GTC/GTD
 * remainder rests: the workflow stays open holding the rest of its hold until filled, cancelled
 * by `cancelOrderUpdate`, expired by its timer, or cancelled by a market halt.
 */
export async function executeTrade(input: TradeInput): Promise<OrderState> {
  const saga = new Saga('trade', { deadlineMs: TRADE_DEADLINE_MINUTES * 60_000 });
  const steps = saga.stepActivities<Activities>();
  const workflowId = workflowInfo().workflowId;
  const order = new OrderHandle(typeof input?.owner === 'string' ? input.owner.trim() : undefined);

  return saga.run(async () => {
    if (input?.resume) {
      // A resting order that continued as new: its order and hold are in the database already.
      order.state = await mustComplete.readOrder(stepId(`${workflowId}:order`));
      return order.rest(input);
    }
    const planned = await saga.step('validate', () => steps.validateTrade(input));
    upsertSearchAttributes([{ key: ACCOUNT_ID, value: planned.side === 'buy' ? planned.quoteAccountId : planned.baseAccountId }]);
    await saga.step('reserve', () => steps.reserveTradeFunds(planned), {
      name: 'releaseTradeFunds',
      run: (reason) =>
        undo.releaseTradeFunds({
          orderId: planned.orderId,
          holdId: holdIdFor(`${workflowId}:reserve`),
          reason,
          market: planned.market,
        }),
    });
    const matched = await saga.step('match', () => steps.placeAndMatchOrder(planned));
    // Fills moved money: from here the order only runs to its end.
    saga.pointOfNoReturn();
    order.state = matched.order;
    await saga.step('notifyMakers', () => tellMakers(matched.makerWorkflowIds));
    if (!order.open) return order.state;
    return saga.step('rest', () => order.rest(input));
  });
}
