import { loadApiConfig } from '../../src/api/config';
import { ApiError } from '../../src/api/errors';
import { executeWorkflowBody } from '../../src/api/registry';
import { parseJsonBody } from '../../src/api/server';
import { ConfigError } from '../../src/config';

const params = {
  accountId: 'A1B2C3D4-0000-4000-8000-000000000001',
  asset: 'usd',
  amount: '1.50',
  bankReference: 'R-1',
  senderName: 'Ann',
};

describe('API request parsing', () => {
  test('JSON bodies: __proto__ and constructor keys at any depth are 422, bad syntax 400', () => {
    const refusal = (text: string) => {
      try {
        parseJsonBody(text);
        return undefined;
      } catch (err) {
        return err as ApiError;
      }
    };
    expect(parseJsonBody('{"a":{"b":[1,"2"]}}')).toEqual({ a: { b: [1, '2'] } });
    expect(refusal('{"a":{"__proto__":{"x":1}}}')).toMatchObject({ statusCode: 422, field: '__proto__' });
    expect(refusal('[{"constructor":{"prototype":{}}}]')).toMatchObject({ statusCode: 422, field: 'constructor' });
    expect(refusal('{"a":')).toMatchObject({ statusCode: 400, type: 'MalformedJson' });
    expect(refusal('')).toMatchObject({ statusCode: 400, type: 'MalformedJson' });
  });

  test('execute-workflow bodies: the client schema per type, canonical ids, numbers for amounts refused', () => {
    const body = executeWorkflowBody();
    const ok = body.parse({ workflow_type: 'fiat_deposit', parameters: params });
    expect(ok.parameters).toMatchObject({ accountId: params.accountId.toLowerCase(), asset: 'USD' });
    const number = body.safeParse({ workflow_type: 'fiat_deposit', parameters: { ...params, amount: 1.5 } });
    expect(number.success).toBe(false);
    expect(number.error?.issues[0]?.path).toEqual(['parameters', 'amount']);
    expect(body.safeParse({ workflow_type: 'fiat_deposit', parameters: params, extra: 1 }).success).toBe(false);
    expect(body.safeParse({ workflow_type: 'wire_transfer', parameters: {} }).success).toBe(false);
    // Every type checks its parameters with the client's own schema.
    expect(body.safeParse({ workflow_type: 'trade_execution', parameters: { any: 'thing' } }).success).toBe(false);
    const trade = body.safeParse({
      workflow_type: 'trade_execution',
      parameters: { owner: 'ann', market: 'BTC-USD', side: 'buy', quantity: '0.5', price: 50000 },
    });
    expect(trade.error?.issues[0]?.path).toEqual(['parameters', 'price']);
  });

  test('settings from the environment: defaults, overrides and a refused value', () => {
    expect(loadApiConfig({})).toMatchObject({
      port: 8080,
      rateLimitPerMinute: 600,
      bodyLimitBytes: 1024 * 1024,
      corsOrigins: [],
    });
    expect(
      loadApiConfig({ TXMGR_API_CORS_ORIGINS: 'https://a.example, https://b.example', TXMGR_ALERT_P99_MS: '250' }),
    ).toMatchObject({
      corsOrigins: ['https://a.example', 'https://b.example'],
      alertThresholds: { p99Ms: 250 },
    });
    expect(() => loadApiConfig({ TXMGR_API_PORT: 'eighty' })).toThrow(ConfigError);
  });

  test('the test routes are off unless TXMGR_API_TEST_ROUTES=on; the chain simulator URL is a URL', () => {
    expect(loadApiConfig({})).toMatchObject({ testRoutes: false });
    expect(loadApiConfig({}).testChainSimUrl).toBeUndefined();
    expect(loadApiConfig({ TXMGR_API_TEST_ROUTES: 'on', TXMGR_API_TEST_CHAIN_SIM_URL: 'http://127.0.0.1:9000/' })).toMatchObject({
      testRoutes: true,
      testChainSimUrl: 'http://127.0.0.1:9000',
    });
    expect(loadApiConfig({ TXMGR_API_TEST_ROUTES: 'off' })).toMatchObject({ testRoutes: false });
    expect(() => loadApiConfig({ TXMGR_API_TEST_ROUTES: 'yes' })).toThrow(/TXMGR_API_TEST_ROUTES must be on or off/);
    expect(() => loadApiConfig({ TXMGR_API_TEST_CHAIN_SIM_URL: 'chain-sim:9000' })).toThrow(
      /TXMGR_API_TEST_CHAIN_SIM_URL must be an http/,
    );
  });
});
