import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { CancelOrderRequest, OrderState } from '../domain/trade';

/** A match touched this resting order: re-read it (the database is the truth, the signal only wakes). */
export const orderFilledSignal = defineSignal('orderFilled');
/** Cancels a resting order; only its owner, only while it is open. Returns the order as it ended. */
export const cancelOrderUpdate = defineUpdate<OrderState, [CancelOrderRequest]>('cancelOrder');
/** The order as the workflow last read it (undefined before it is placed). */
export const orderStateQuery = defineQuery<OrderState | undefined>('orderState');
