import { loadApiConfig } from './api/config';
import { startApiServer } from './api/server';
import type { TxmgrClient } from './client';
import { createApiKey } from './client/api-keys';
import type { Logger } from './logger';

/**
 * The demo's HTTP API part (with --keep): serves the API on TXMGR_API_PORT (or 8080; any free
 * port when that is taken), makes an admin key and prints a few curl lines that work against it.
 */
export async function demoApi(o: { txmgr: TxmgrClient; logger: Logger; accountId: string; say: (line: string) => void }) {
  const config = loadApiConfig();
  const start = () => startApiServer({ client: o.txmgr, config, logger: o.logger });
  const { url } = await start().catch(async (err: unknown) => {
    if ((err as { code?: string }).code !== 'EADDRINUSE') throw err;
    config.port = 0;
    return start();
  });
  const { key } = await createApiKey(o.txmgr.pool, { name: 'demo', scopes: ['admin'] });
  const api = `${url}/api/v1/transactions`;
  const ref = `CURL-${Date.now().toString(36)}`;
  const body = JSON.stringify({
    workflow_type: 'fiat_deposit',
    parameters: { accountId: o.accountId, asset: 'USD', amount: '12.34', bankReference: ref, senderName: 'Curl Example' },
  });
  const auth = `-H 'Authorization: Bearer ${key}'`;
  o.say(`HTTP API on ${url} (OpenAPI ${url}/openapi.json, docs ${url}/docs); a demo admin key is in the lines below:`);
  o.say(`  curl -s ${auth} ${api}/health`);
  o.say(
    `  curl -s ${auth} -H 'Idempotency-Key: ${ref}' -H 'Content-Type: application/json' -d '${body}' '${api}/execute-workflow?wait=true'`,
  );
  o.say(`  curl -s ${auth} ${api}/status/deposit-${ref}`);
  o.say(`  curl -s ${auth} '${api}/metrics?since=1h'`);
}
