import { z } from 'zod';
import { DEFAULT_ALERT_THRESHOLDS, type AlertThresholds } from '../client/metrics';
import { ConfigError } from '../config';

/** Settings of `txmgr serve`, from the environment (each has a default). */
export interface ApiConfig {
  host: string;
  port: number;
  /** Requests per key per minute. */
  rateLimitPerMinute: number;
  bodyLimitBytes: number;
  /** The longest `?wait=true` may hold a request, in seconds. */
  maxWaitSeconds: number;
  /** Origins allowed by CORS; empty: CORS off. */
  corsOrigins: string[];
  alertThresholds: AlertThresholds;
  /** A poller not seen for this long is not counted as a live worker. */
  pollerStaleSeconds: number;
  /** The test routes (POST /test/load, /test/chaos, GET /test/runs/{id}); off: they do not exist. */
  testRoutes: boolean;
  /** The chain simulator the workers broadcast to, for test runs' withdrawals and chain faults; unset: neither. */
  testChainSimUrl?: string;
}

const ApiEnv = z.object({
  TXMGR_API_HOST: z.string().min(1).default('127.0.0.1'),
  TXMGR_API_PORT: z.coerce.number().int().min(0).max(65_535).default(8080),
  TXMGR_API_RATE_LIMIT: z.coerce.number().int().min(1).max(1_000_000).default(600),
  TXMGR_API_BODY_LIMIT: z.coerce
    .number()
    .int()
    .min(1024)
    .max(64 * 1024 * 1024)
    .default(1024 * 1024),
  TXMGR_API_MAX_WAIT_SECONDS: z.coerce.number().int().min(1).max(300).default(30),
  TXMGR_API_CORS_ORIGINS: z.string().default(''),
  TXMGR_ALERT_ERROR_RATE: z.coerce.number().min(0).max(1).default(DEFAULT_ALERT_THRESHOLDS.errorRate),
  TXMGR_ALERT_TIMEOUT_RATE: z.coerce.number().min(0).max(1).default(DEFAULT_ALERT_THRESHOLDS.timeoutRate),
  TXMGR_ALERT_P99_MS: z.coerce.number().min(0).default(DEFAULT_ALERT_THRESHOLDS.p99Ms),
  TXMGR_API_POLLER_STALE_SECONDS: z.coerce.number().int().min(1).max(3600).default(300),
  TXMGR_API_TEST_ROUTES: z.enum(['on', 'off'], { error: 'TXMGR_API_TEST_ROUTES must be on or off' }).default('off'),
  TXMGR_API_TEST_CHAIN_SIM_URL: z
    .string()
    .regex(/^https?:\/\/[^\s/]+/, 'TXMGR_API_TEST_CHAIN_SIM_URL must be an http:// or https:// URL of the chain simulator')
    .optional(),
});

export const API_ENV_VARS = Object.keys(ApiEnv.shape);

export function loadApiConfig(env: NodeJS.ProcessEnv = process.env): ApiConfig {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([k, v]) => API_ENV_VARS.includes(k) && v !== ''));
  const r = ApiEnv.safeParse(cleaned);
  if (!r.success) {
    throw new ConfigError(`invalid environment: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  const e = r.data;
  return {
    host: e.TXMGR_API_HOST,
    port: e.TXMGR_API_PORT,
    rateLimitPerMinute: e.TXMGR_API_RATE_LIMIT,
    bodyLimitBytes: e.TXMGR_API_BODY_LIMIT,
    maxWaitSeconds: e.TXMGR_API_MAX_WAIT_SECONDS,
    corsOrigins: e.TXMGR_API_CORS_ORIGINS.split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    alertThresholds: {
      errorRate: e.TXMGR_ALERT_ERROR_RATE,
      timeoutRate: e.TXMGR_ALERT_TIMEOUT_RATE,
      p99Ms: e.TXMGR_ALERT_P99_MS,
    },
    pollerStaleSeconds: e.TXMGR_API_POLLER_STALE_SECONDS,
    testRoutes: e.TXMGR_API_TEST_ROUTES === 'on',
    ...(e.TXMGR_API_TEST_CHAIN_SIM_URL ? { testChainSimUrl: e.TXMGR_API_TEST_CHAIN_SIM_URL.replace(/\/+$/, '') } : {}),
  };
}
