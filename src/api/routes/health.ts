import { z } from 'zod';
import { getSiphonState } from '../../client/config';
import { type ApiApp, type ApiDeps } from '../context';
import { queueWorkers } from '../workers';

const CHECK_TIMEOUT_MS = 3_000;

const Check = z.object({ ok: z.boolean(), latencyMs: z.number(), error: z.string().optional() });
export const HealthResponse = z.object({
  status: z.enum(['ok', 'unavailable']),
  checks: z.object({
    postgres: Check,
    temporal: Check,
    workers: Check.extend({
      taskQueue: z.string(),
      workflowPollers: z.array(z.string()),
      activityPollers: z.array(z.string()),
      note: z.string().optional(),
    }),
    siphon: z.object({ state: z.string().describe('booting, running, reloading, stopping, stopped, not running or unknown') }),
  }),
});

function bounded<T>(p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
    }),
  ]).finally(() => clearTimeout(timer));
}

async function timed<T>(fn: () => Promise<T>): Promise<{ ok: boolean; latencyMs: number; error?: string; value?: T }> {
  const started = performance.now();
  try {
    const value = await bounded(fn());
    return { ok: true, latencyMs: Math.round(performance.now() - started), value };
  } catch (err) {
    // The reason in a few words, never a connection string.
    const error = String((err as Error)?.message ?? err)
      .split('\n')[0]
      ?.replace(/postgres(ql)?:\/\/\S+/g, '[url]');
    return { ok: false, latencyMs: Math.round(performance.now() - started), error };
  }
}

/** GET /health: PostgreSQL, Temporal, workers polling the task queue, the siphon; 200 or 503. */
export function healthRoutes(app: ApiApp, deps: ApiDeps, siphonWorkflowId?: string): void {
  app.get(
    '/health',
    {
      config: { scope: 'read' },
      schema: {
        summary: 'PostgreSQL, Temporal, workers and the config siphon; 503 when one is down',
        response: { 200: HealthResponse, 503: HealthResponse },
      },
    },
    async (_request, reply) => {
      const { client, config } = deps;
      const [postgres, temporal] = await Promise.all([
        timed(() => client.pool.query('SELECT 1')),
        timed(() => client.temporal.workflowService.getSystemInfo({})),
      ]);
      const workers = temporal.ok
        ? await timed(() => queueWorkers(client.temporal, client.taskQueue, config.pollerStaleSeconds))
        : { ok: false, latencyMs: 0, error: 'Temporal is unreachable' };
      const polling = workers.value;
      const workersOk = workers.ok && !!polling && polling.workflowPollers.length > 0 && polling.activityPollers.length > 0;
      const siphon = temporal.ok
        ? await timed(() =>
            getSiphonState({ client: client.temporal, taskQueue: client.taskQueue, workflowId: siphonWorkflowId }),
          )
        : undefined;
      const ok = postgres.ok && temporal.ok && workersOk;
      return reply.code(ok ? 200 : 503).send({
        status: ok ? 'ok' : 'unavailable',
        checks: {
          postgres: { ok: postgres.ok, latencyMs: postgres.latencyMs, ...(postgres.error ? { error: postgres.error } : {}) },
          temporal: { ok: temporal.ok, latencyMs: temporal.latencyMs, ...(temporal.error ? { error: temporal.error } : {}) },
          workers: {
            ok: workersOk,
            latencyMs: workers.latencyMs,
            taskQueue: client.taskQueue,
            workflowPollers: polling?.workflowPollers ?? [],
            activityPollers: polling?.activityPollers ?? [],
            ...(workers.error
              ? { error: workers.error }
              : workersOk
                ? {}
                : { error: `no worker polls task queue ${client.taskQueue}` }),
            ...(polling?.note ? { note: polling.note } : {}),
          },
          siphon: { state: siphon?.ok ? (siphon.value?.state ?? 'not running') : 'unknown' },
        },
      });
    },
  );
}
