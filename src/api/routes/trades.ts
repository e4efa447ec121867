import { WorkflowNotFoundError } from '@temporalio/client';
import { z } from 'zod';
import { cancelOrder, getOrder } from '../../client/trades';
import { owner } from '../../domain/trade';
import { uuid } from '../../domain/schemas';
import { type ApiApp, type ApiDeps, statusUrl } from '../context';
import { ApiError } from '../errors';
import { ErrorBodySchema } from '../schemas';

export const OrderSchema = z
  .object({
    orderId: z.string(),
    owner: z.string(),
    clientOrderId: z.string(),
    market: z.string(),
    side: z.enum(['buy', 'sell']),
    type: z.enum(['limit', 'market']),
    price: z.string().describe('quote minor units per one base unit'),
    quantity: z.string().describe('base minor units'),
    filled: z.string().describe('base minor units'),
    priceDisplay: z.string().describe('human decimal with the quote asset, e.g. "50000.00 USD"'),
    quantityDisplay: z.string(),
    filledDisplay: z.string(),
    status: z.string(),
    closeReason: z.string().nullable(),
    tif: z.string(),
    expiresAt: z.string().nullable(),
    postOnly: z.boolean(),
    workflowId: z.string(),
  })
  .describe('an order, in minor units and human decimals');

const CancelOrderResponse = z.object({ order: OrderSchema, workflowId: z.string(), statusUrl: z.string() });

/** POST /orders/{orderId}/cancel: the trade saga's cancelOrder update, for an open order and by its owner only. */
export function tradeRoutes(app: ApiApp, deps: ApiDeps): void {
  app.post(
    '/orders/:orderId/cancel',
    {
      config: { scope: 'execute' },
      schema: {
        summary: 'cancel a resting order: only an open order, only by its owner (the body names the owner)',
        params: z.object({ orderId: uuid.describe('the order id') }).strict(),
        body: z.object({ owner }).strict(),
        response: {
          200: CancelOrderResponse,
          404: ErrorBodySchema,
          409: ErrorBodySchema,
          422: ErrorBodySchema,
        },
      },
    },
    async (request) => {
      const { orderId } = request.params;
      request.auditTarget = orderId;
      let order;
      try {
        order = await cancelOrder(deps.client, orderId, request.body.owner);
      } catch (err) {
        if (!(err instanceof WorkflowNotFoundError)) throw err;
        // Its saga finished between the check and the update: the order is no longer open.
        const now = await getOrder(deps.client.pool, orderId);
        throw new ApiError(
          409,
          'InvalidState',
          `order ${orderId} is ${now?.status ?? 'closed'}; only an open order can be cancelled`,
          'orderId',
        );
      }
      return { order, workflowId: order.workflowId, statusUrl: statusUrl(order.workflowId) };
    },
  );
}
