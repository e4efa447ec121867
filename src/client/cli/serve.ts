import type { Command } from 'commander';
import { loadApiConfig } from '../../api/config';
import { startApiServer } from '../../api/server';
import { ConfigError, loadCommonConfig } from '../../config';
import { createPool } from '../../db/pool';
import { createLogger } from '../../logger';
import { handler, positiveInt } from './command';
import { badInput, note, printJson, printLine } from './printer';

/** `txmgr serve`: the HTTP API in front of the client, until Ctrl-C. */
export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('serve the HTTP API (/api/v1/transactions, /openapi.json, /docs, /metrics) until Ctrl-C')
    .option('--host <host>', 'address to listen on (default TXMGR_API_HOST or 127.0.0.1)')
    .option('--port <port>', 'port (default TXMGR_API_PORT or 8080)', positiveInt('--port'))
    .action(
      handler(async (ctx, out, o: { host?: string; port?: number }) => {
        let config;
        try {
          config = loadApiConfig();
        } catch (err) {
          if (err instanceof ConfigError) throw badInput('ConfigError', err.message);
          throw err;
        }
        if (o.host) config.host = o.host;
        if (o.port) config.port = o.port;
        const client = await ctx.txmgr();
        // For in-doubt recovery of 2pc transactions (POST /recovery/trigger); without it only the ledger is checked.
        const custodyUrl = loadCommonConfig().custodyDatabaseUrl;
        const custodyPool = custodyUrl
          ? createPool({ databaseUrl: custodyUrl, max: 2, applicationName: 'txmgr-api' })
          : undefined;
        // Test runs (TXMGR_API_TEST_ROUTES=on) get connections of their own: a run would fill the API's few.
        const testRunPools = config.testRoutes
          ? {
              ledger: createPool({ databaseUrl: ctx.databaseUrl, max: 12, applicationName: 'txmgr-test-run' }),
              custody: custodyUrl
                ? createPool({ databaseUrl: custodyUrl, max: 4, applicationName: 'txmgr-test-run' })
                : undefined,
            }
          : undefined;
        const { app, url } = await startApiServer({
          client,
          config,
          custodyPool,
          testRunPools,
          logger: createLogger(process.env.LOG_LEVEL ?? 'warn'),
        });
        if (out.json) printJson({ url, openapi: `${url}/openapi.json`, docs: `${url}/docs` });
        else {
          printLine(
            `txmgr API on ${url}/api/v1/transactions — OpenAPI ${url}/openapi.json, docs ${url}/docs, Prometheus ${url}/metrics`,
          );
          note('create a key with: txmgr apikey create --name NAME --scopes read,execute; Ctrl-C stops');
        }
        await new Promise<void>((resolve) => {
          process.once('SIGINT', resolve);
          process.once('SIGTERM', resolve);
        });
        await app.close();
        await custodyPool?.end();
        await testRunPools?.ledger.end();
        await testRunPools?.custody?.end();
      }),
    );
}
