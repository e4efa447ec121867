import {
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { CancelOrderRequest, DEFAULT_RECHECK_SECONDS, ORDER_NOT_PLACED, type OrderState, type TradeInput } from '../domain/trade';
import { MUST_COMPLETE_OPTIONS } from './retry-policies';
import { cancelOrderUpdate, orderFilledSignal, orderStateQuery } from './trade-messages';

const acts = proxyActivities<Activities>(MUST_COMPLETE_OPTIONS);

// eslint-disable-next-line no-restricted-properties
const workflowNow = (): number => Date.now();

/** History events after which a resting order continues as new (it may rest for weeks). */
const MAX_HISTORY = 5_000;

/** The order-facing half of a trade workflow: its query, the fill wake-up and the cancel update. */
export class OrderHandle {
  state: OrderState | undefined;
  private wakeups = 0;

  constructor(private readonly owner: string | undefined) {
    setHandler(orderStateQuery, () => this.state);
    setHandler(orderFilledSignal, () => {
      this.wakeups++;
    });
    setHandler(
      cancelOrderUpdate,
      async () => {
        this.state = await acts.closeOrder({
          orderId: this.state!.orderId,
          status: 'cancelled',
          reason: 'cancelled by its owner',
          owner: this.owner,
        });
        return this.state;
      },
      {
        validator: (request: CancelOrderRequest) => {
          const parsed = CancelOrderRequest.safeParse(request);
          if (!parsed.success) throw new Error('owner: a cancel names the owner of the order');
          // Typed: the client retries it while the book already shows the order (the workflow hears of
          // its placement a moment after the commit, and a run that continued as new re-reads it).
          if (!this.state) {
            throw ApplicationFailure.create({
              type: ORDER_NOT_PLACED,
              message: 'the order is not placed yet; cancel it once it rests',
              nonRetryable: true,
            });
          }
          if (parsed.data.owner !== this.state.owner) throw new Error('owner: only the owner of an order may cancel it');
          if (this.state.status !== 'open')
            throw new Error(`the order is ${this.state.status}; only an open order can be cancelled`);
        },
      },
    );
  }

  get open(): boolean {
    return this.state?.status === 'open';
  }

  /**
   * Rests until the order leaves the book: filled by later takers (a signal wakes it), cancelled
   * by the update, expired by a durable timer (GTD), or cancelled by a market halt — seen on a
   * periodic re-read, since the halt is applied by the siphon, which cancels in its own transaction.
   */
  async rest(input: TradeInput): Promise<OrderState> {
    const recheckMs = (input.recheckSeconds ?? DEFAULT_RECHECK_SECONDS) * 1000;
    const expiresAt = input.expiresAt ? Date.parse(input.expiresAt) : undefined;
    let seen = this.wakeups;
    while (this.open) {
      const untilExpiry = expiresAt === undefined ? Infinity : expiresAt - workflowNow();
      if (untilExpiry <= 0) {
        this.state = await acts.closeOrder({ orderId: this.state!.orderId, status: 'expired', reason: 'GTD: expired' });
        break;
      }
      await condition(() => this.wakeups > seen || !this.open, Math.max(1, Math.min(recheckMs, untilExpiry)));
      if (!this.open) break;
      // Taken before the read: a wake-up that arrives while it runs is not lost.
      seen = this.wakeups;
      const read = await acts.readOrder(this.state!.orderId);
      // A cancel that closed the order while this read ran knows better than the read.
      if (this.open) this.state = read;
      if (this.open && workflowInfo().historyLength > (input.historyLimit ?? MAX_HISTORY)) {
        await condition(allHandlersFinished);
        await continueAsNew<(i: TradeInput) => Promise<OrderState>>({ ...input, resume: true });
      }
    }
    await condition(allHandlersFinished);
    return this.state!;
  }
}

/** Wakes the resting orders a match touched; one that already finished does not mind. */
export async function tellMakers(workflowIds: string[]): Promise<void> {
  await Promise.all(
    workflowIds.map((id) =>
      getExternalWorkflowHandle(id)
        .signal(orderFilledSignal)
        .catch(() => undefined),
    ),
  );
}

export const notResting = (state: OrderState): ApplicationFailure =>
  ApplicationFailure.create({ type: 'InvalidState', message: `order ${state.orderId} is ${state.status}`, nonRetryable: true });
