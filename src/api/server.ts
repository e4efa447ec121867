import cors from '@fastify/cors';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyReply } from 'fastify';
import { jsonSchemaTransform, serializerCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Pool } from 'pg';
import type { TxmgrClient } from '../client';
import type { Logger } from '../logger';
import type { ApiConfig } from './config';
import { API_PREFIX, type ApiApp, type ApiDeps } from './context';
import { ApiError, errorBody, toApiError } from './errors';
import { registerIdempotency } from './idempotency';
import { checkJsonCharset, parseJsonBody } from './json-body';
import { registerPrometheus } from './prometheus';
import { campaignRoutes } from './routes/campaigns';
import { depositRoutes } from './routes/deposits';
import { healthRoutes } from './routes/health';
import { lockRoutes } from './routes/locks';
import { metricsRoutes } from './routes/metrics';
import { recoveryRoutes } from './routes/recovery';
import { statusRoutes } from './routes/status';
import { testRunRoutes } from './routes/test-runs';
import { tradeRoutes } from './routes/trades';
import { withdrawalRoutes } from './routes/withdrawals';
import { workflowRoutes } from './routes/workflows';
import { registerAuthentication, registerIdempotencyKeyCheck } from './security';
import type { TestRunPools } from './test-runs';
import { zodValidatorCompiler } from './validation';

export { parseJsonBody } from './json-body';

const FRAMEWORK_ERRORS: Record<string, ApiError> = {
  FST_ERR_BAD_URL: new ApiError(400, 'MalformedRequest', 'the URL is not valid (a bad percent-encoding or not UTF-8)', 'path'),
  FST_ERR_MAX_PARAM_LENGTH: new ApiError(414, 'UriTooLong', 'a path parameter is longer than 300 characters', 'path'),
};

export interface ApiServerOptions {
  client: TxmgrClient;
  config: ApiConfig;
  logger: Logger;
  /** The custody database, for in-doubt recovery of 2pc transactions; absent: the ledger only. */
  custodyPool?: Pool;
  /** The key sealing withdrawals' one-time codes; default TXMGR_TOTP_KEY. */
  totpKey?: Buffer;
  /** The config siphon's workflow id (tests use their own); default config-siphon. */
  siphonWorkflowId?: string;
  /** Connections of the test runs' own (TXMGR_API_TEST_ROUTES=on), to the same databases; default the API's. */
  testRunPools?: TestRunPools;
  version?: string;
}

/**
 * The HTTP API: routes under /api/v1/transactions over the typed client, the OpenAPI
 * document at /openapi.json (browsable at /docs) and Prometheus text at /metrics.
 */
export async function buildApiServer(o: ApiServerOptions): Promise<ApiApp> {
  // Request lines stay out of the log (info); failures (error) go in.
  const logger = o.logger.child({ component: 'api' }, { level: 'warn' });
  const loggerInstance: FastifyBaseLogger = logger;
  const app = Fastify({
    loggerInstance,
    bodyLimit: o.config.bodyLimitBytes,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    return503OnClosing: true,
    routerOptions: { maxParamLength: 300 },
    // A URL the router cannot read answers in the API's error shape too, without echoing the URL.
    frameworkErrors: (err, _request, reply) => {
      const e = FRAMEWORK_ERRORS[err.code] ?? new ApiError(400, 'MalformedRequest', 'the request could not be read', null);
      void (reply as FastifyReply).code(e.statusCode).send(errorBody(e));
    },
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(zodValidatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  // JSON only: a text/plain body is refused with 415 instead of reaching a schema as a string.
  app.removeContentTypeParser(['text/plain', 'application/json']);
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    try {
      checkJsonCharset(request.headers['content-type']);
      done(null, parseJsonBody(body));
    } catch (err) {
      done(err as Error, undefined);
    }
  });

  app.setErrorHandler((err: FastifyError, request, reply) => {
    const e = toApiError(err, String(request.id));
    if (e.statusCode >= 500) logger.error({ err, requestId: request.id, route: request.routeOptions.url }, 'request failed');
    return reply.code(e.statusCode).headers(e.headers).send(errorBody(e));
  });
  app.setNotFoundHandler((request, reply) =>
    reply
      .code(404)
      .send(errorBody(new ApiError(404, 'NotFound', `no route ${request.method} ${request.url.split('?')[0] ?? ''}`, null))),
  );

  if (o.config.corsOrigins.length > 0) await app.register(cors, { origin: o.config.corsOrigins });
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'txmgr HTTP API',
        version: o.version ?? '0.1.0',
        description:
          'Durable transactions on Temporal + PostgreSQL. Amounts are decimal strings. Every POST needs an Idempotency-Key header; every error is { error: { type, message, field } }.',
      },
      components: { securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'txmgr apikey create' } } },
      security: [{ apiKey: [] }],
    },
    transform: jsonSchemaTransform,
  });
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { docExpansion: 'list' } });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  registerPrometheus(app);

  const deps: ApiDeps = {
    client: o.client,
    config: o.config,
    logger,
    custodyPool: o.custodyPool,
    totpKey: o.totpKey,
  };
  await app.register(
    async (api) => {
      const scoped = api.withTypeProvider<ZodTypeProvider>();
      registerAuthentication(scoped, o.client.pool);
      await scoped.register(rateLimit, {
        global: true,
        max: o.config.rateLimitPerMinute,
        timeWindow: '1 minute',
        hook: 'preParsing',
        keyGenerator: (request) => request.principal?.keyId ?? request.ip,
        errorResponseBuilder: (_request, context) =>
          new ApiError(
            429,
            'RateLimited',
            `more than ${context.max} requests a minute with this API key; retry in ${context.after}`,
            null,
          ),
      });
      registerIdempotencyKeyCheck(scoped);
      registerIdempotency(scoped, o.client.pool, logger);
      workflowRoutes(scoped, deps);
      statusRoutes(scoped, deps);
      depositRoutes(scoped, deps);
      tradeRoutes(scoped, deps);
      withdrawalRoutes(scoped, deps);
      campaignRoutes(scoped, deps);
      healthRoutes(scoped, deps, o.siphonWorkflowId);
      metricsRoutes(scoped, deps);
      recoveryRoutes(scoped, deps);
      lockRoutes(scoped, deps);
      // Off by default: with TXMGR_API_TEST_ROUTES=off these routes do not exist (404).
      if (o.config.testRoutes) testRunRoutes(scoped, deps, { siphonWorkflowId: o.siphonWorkflowId, pools: o.testRunPools });
    },
    { prefix: API_PREFIX },
  );
  await app.ready();
  return app;
}

/** Builds and listens; the returned app's address is where it serves. */
export async function startApiServer(o: ApiServerOptions): Promise<{ app: ApiApp; url: string }> {
  const app = await buildApiServer(o);
  const address = await app.listen({ host: o.config.host, port: o.config.port });
  return { app, url: address };
}
