import { z } from 'zod';
import { alertReport, MetricsRequest, performanceReport, transactionMetrics, WindowRequest } from '../../client/metrics';
import { type ApiApp, type ApiDeps } from '../context';
import { ErrorBodySchema } from '../schemas';

const OperationMetrics = z.object({
  operation: z.string(),
  count: z.number(),
  succeeded: z.number(),
  failed: z.number(),
  successRate: z.number(),
  retries: z.number(),
  p50Ms: z.number(),
  p95Ms: z.number(),
  p99Ms: z.number(),
  maxMs: z.number(),
});
const MetricsResponse = z.object({ since: z.string(), operation: z.string().nullable(), operations: z.array(OperationMetrics) });
const PerformanceResponse = z.object({
  windowSeconds: z.number(),
  since: z.string(),
  transactions: z.number(),
  committed: z.number(),
  failed: z.number(),
  timedOut: z.number(),
  throughputPerSecond: z.number(),
  committedPerSecond: z.number(),
  p50Ms: z.number().nullable(),
  p95Ms: z.number().nullable(),
  p99Ms: z.number().nullable(),
  maxMs: z.number().nullable(),
});
const AlertsResponse = z.object({
  windowSeconds: z.number(),
  transactions: z.number(),
  firing: z.number(),
  alerts: z.array(
    z.object({
      name: z.enum(['error_rate', 'timeout_rate', 'p99_latency']),
      firing: z.boolean(),
      value: z.number(),
      threshold: z.number(),
      message: z.string(),
    }),
  ),
});

/** GET /metrics, /performance, /alerts: figures from transaction_metrics, computed in PostgreSQL. */
export function metricsRoutes(app: ApiApp, deps: ApiDeps): void {
  const pool = deps.client.pool;
  app.get(
    '/metrics',
    {
      config: { scope: 'read' },
      schema: {
        summary: 'per operation: count, success rate, retries, p50/p95/p99 duration of database transactions',
        querystring: MetricsRequest,
        response: { 200: MetricsResponse, 422: ErrorBodySchema },
      },
    },
    async (request) => transactionMetrics(pool, request.query),
  );
  app.get(
    '/performance',
    {
      config: { scope: 'read' },
      schema: {
        summary: 'throughput and latency percentiles of all database transactions over a window',
        querystring: WindowRequest,
        response: { 200: PerformanceResponse, 422: ErrorBodySchema },
      },
    },
    async (request) => performanceReport(pool, request.query),
  );
  app.get(
    '/alerts',
    {
      config: { scope: 'read' },
      schema: {
        summary: 'error rate, timeout rate and p99 latency against their thresholds (TXMGR_ALERT_*)',
        querystring: WindowRequest,
        response: { 200: AlertsResponse, 422: ErrorBodySchema },
      },
    },
    async (request) => alertReport(pool, request.query, deps.config.alertThresholds),
  );
}
