import { loadApiConfig, type ApiConfig } from '../../src/api/config';
import { startApiServer } from '../../src/api/server';
import type { ApiApp } from '../../src/api/context';
import { createApiKey, type ApiScope } from '../../src/client/api-keys';
import type { TestContext } from '../helpers/context';

export const PREFIX = '/api/v1/transactions';

export interface ApiUnderTest {
  app: ApiApp;
  url: string;
  /** fetch against the server with a key; JSON bodies are sent as application/json. */
  call(
    method: string,
    path: string,
    o?: { key?: string; body?: unknown; raw?: string; contentType?: string; idempotencyKey?: string },
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read response fields of many shapes
  ): Promise<{ status: number; body: any; headers: Headers }>;
  key(scopes: ApiScope[], name?: string): Promise<string>;
  close(): Promise<void>;
}

/** A real server on a loopback port over the test's database and Temporal, for one task queue. */
export async function startTestApi(
  ctx: TestContext,
  taskQueue: string,
  overrides: Partial<ApiConfig> = {},
  o: { totpKey?: Buffer } = {},
): Promise<ApiUnderTest> {
  const config = { ...loadApiConfig({}), host: '127.0.0.1', port: 0, ...overrides };
  const { app, url } = await startApiServer({
    client: ctx.client(taskQueue),
    config,
    logger: ctx.logger,
    custodyPool: ctx.custodyPool,
    totpKey: o.totpKey,
    siphonWorkflowId: `siphon-${taskQueue}`,
  });
  return {
    app,
    url,
    async call(method, path, o = {}) {
      const headers: Record<string, string> = {};
      if (o.key) headers.authorization = `Bearer ${o.key}`;
      if (o.idempotencyKey) headers['idempotency-key'] = o.idempotencyKey;
      let body: string | undefined;
      if (o.raw !== undefined) body = o.raw;
      else if (o.body !== undefined) body = JSON.stringify(o.body);
      if (body !== undefined) headers['content-type'] = o.contentType ?? 'application/json';
      const res = await fetch(`${url}${path.startsWith('/') ? path : `${PREFIX}/${path}`}`, { method, headers, body });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // Prometheus text and HTML stay strings.
      }
      return { status: res.status, body: parsed, headers: res.headers };
    },
    key: async (scopes, name = 'test') => (await createApiKey(ctx.pool, { name, scopes })).key,
    close: () => app.close(),
  };
}
