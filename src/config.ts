import { z } from 'zod';

/** Every environment variable the worker reads; docker-compose.yml is checked against this list. */
export const WORKER_ENV_VARS = [
  'TEMPORAL_ADDRESS',
  'TEMPORAL_NAMESPACE',
  'TEMPORAL_TASK_QUEUE',
  'DATABASE_URL',
  'CUSTODY_DATABASE_URL',
  'PG_POOL_MAX',
  'DB_LOCK_TIMEOUT_MS',
  'WORKER_MAX_CONCURRENT_ACTIVITIES',
  'WORKER_SHUTDOWN_GRACE_MS',
  'LOG_LEVEL',
  'METRICS_BIND_ADDRESS',
  'TXMGR_REGISTER_SEARCH_ATTRIBUTES',
] as const;

const intFromEnv = (fallback: number, min: number, max: number) => z.coerce.number().int().min(min).max(max).default(fallback);

/** host:port, the form gRPC clients dial; a bare host or a URL is refused with the expected form. */
const hostPort = (name: string) =>
  z
    .string()
    .min(1)
    .regex(
      /^(\[[0-9a-fA-F:.]+\]|[^:/\s]+):\d{1,5}$/,
      `${name} must be host:port (e.g. localhost:7233 or temporal.example.com:7233), without a scheme`,
    );

/** A postgres:// URL that parses, with a host; named in every message. */
const databaseUrl = (required: boolean) =>
  z
    .string(required ? { error: 'DATABASE_URL is required (postgres://user:password@host:port/database)' } : undefined)
    .regex(/^postgres(ql)?:\/\//, 'DATABASE_URL must start with postgres:// or postgresql://')
    .refine((v) => {
      try {
        return new URL(v).hostname !== '';
      } catch {
        return false;
      }
    }, 'DATABASE_URL is not a valid URL (postgres://user:password@host:port/database; percent-encode special characters in the password)');

const logLevel = z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info');

/** Settings shared by every process: which Temporal and which task queue. */
const CommonEnv = z.object({
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('txmgr'),
  LOG_LEVEL: logLevel,
});

const WorkerEnv = CommonEnv.extend({
  TEMPORAL_ADDRESS: z
    .string({ error: 'TEMPORAL_ADDRESS is required (host:port of the Temporal frontend)' })
    .pipe(hostPort('TEMPORAL_ADDRESS')),
  DATABASE_URL: databaseUrl(true),
  /** The custody database (the transaction core's second resource); unset: custody operations and 2pc are refused. */
  CUSTODY_DATABASE_URL: databaseUrl(false).optional(),
  PG_POOL_MAX: intFromEnv(20, 1, 1000),
  /**
   * How long a statement of an activity's transaction waits for a row lock before the try fails
   * (retryably, with backoff). Well below the activities' 30 s start-to-close: a lock held across
   * round trips (a prepared 2pc) then frees the worker's activity slots instead of filling them.
   */
  DB_LOCK_TIMEOUT_MS: intFromEnv(2_000, 100, 25_000),
  WORKER_MAX_CONCURRENT_ACTIVITIES: intFromEnv(16, 1, 1000),
  WORKER_SHUTDOWN_GRACE_MS: intFromEnv(10_000, 0, 600_000),
  /** host:port for the SDK's Prometheus endpoint; unset means no endpoint. */
  METRICS_BIND_ADDRESS: z
    .string()
    .regex(/^[^:\s]+:\d+$/, 'METRICS_BIND_ADDRESS must be host:port')
    .optional(),
  /** false: never try to register missing search attributes (a worker without operator rights). */
  TXMGR_REGISTER_SEARCH_ATTRIBUTES: z
    .enum(['true', 'false'], { error: 'TXMGR_REGISTER_SEARCH_ATTRIBUTES must be true or false' })
    .default('true'),
}).refine((env) => env.PG_POOL_MAX >= env.WORKER_MAX_CONCURRENT_ACTIVITIES, {
  message: 'PG_POOL_MAX must be at least WORKER_MAX_CONCURRENT_ACTIVITIES, or activities would queue for connections',
  path: ['PG_POOL_MAX'],
});

export interface WorkerConfig {
  temporalAddress: string;
  namespace: string;
  taskQueue: string;
  databaseUrl: string;
  custodyDatabaseUrl?: string;
  poolMax: number;
  lockTimeoutMs: number;
  maxConcurrentActivities: number;
  shutdownGraceMs: number;
  logLevel: z.infer<typeof logLevel>;
  metricsBindAddress?: string;
  registerSearchAttributes: boolean;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * A service the environment points at is not fit to run against (unreachable, no such
 * namespace, schema out of step): the process exits 2 with this one line.
 */
export class StartupCheckError extends Error {
  override name = 'StartupCheckError';
}

function parse<T extends z.ZodType>(schema: T, env: NodeJS.ProcessEnv): z.infer<T> {
  // Empty strings count as unset, as they do in most shells' `VAR= cmd`.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const result = schema.safeParse(cleaned);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  ${i.path.join('.') || 'environment'}: ${i.message}`);
    throw new ConfigError(`invalid environment:\n${lines.join('\n')}`);
  }
  return result.data;
}

/** `npm run migrate`: only the database. */
export function loadMigrateConfig(env: NodeJS.ProcessEnv = process.env): {
  databaseUrl: string;
  /** The worker's and the API's URL: its login role is made a member of txmgr_app after migrating. */
  appDatabaseUrl?: string;
  logLevel: z.infer<typeof logLevel>;
} {
  const e = parse(
    z.object({ DATABASE_URL: databaseUrl(true), APP_DATABASE_URL: databaseUrl(false).optional(), LOG_LEVEL: logLevel }),
    env,
  );
  return { databaseUrl: e.DATABASE_URL, appDatabaseUrl: e.APP_DATABASE_URL, logLevel: e.LOG_LEVEL };
}

/** Parses the worker's environment once; throws naming every missing or bad variable. */
export function loadWorkerConfig(env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  const e = parse(WorkerEnv, env);
  return {
    temporalAddress: e.TEMPORAL_ADDRESS,
    namespace: e.TEMPORAL_NAMESPACE,
    taskQueue: e.TEMPORAL_TASK_QUEUE,
    databaseUrl: e.DATABASE_URL,
    custodyDatabaseUrl: e.CUSTODY_DATABASE_URL,
    poolMax: e.PG_POOL_MAX,
    lockTimeoutMs: e.DB_LOCK_TIMEOUT_MS,
    maxConcurrentActivities: e.WORKER_MAX_CONCURRENT_ACTIVITIES,
    shutdownGraceMs: e.WORKER_SHUTDOWN_GRACE_MS,
    logLevel: e.LOG_LEVEL,
    metricsBindAddress: e.METRICS_BIND_ADDRESS,
    registerSearchAttributes: e.TXMGR_REGISTER_SEARCH_ATTRIBUTES === 'true',
  };
}

export interface CommonConfig {
  namespace: string;
  taskQueue: string;
  logLevel: z.infer<typeof logLevel>;
  /** Set when the user points txmgr at running services instead of the embedded ones. */
  temporalAddress?: string;
  databaseUrl?: string;
  custodyDatabaseUrl?: string;
  dataDir: string;
}

/** Settings for the CLI, the demo and the tests: external services are optional. */
export function loadCommonConfig(env: NodeJS.ProcessEnv = process.env): CommonConfig {
  const e = parse(
    CommonEnv.extend({
      TEMPORAL_ADDRESS: hostPort('TEMPORAL_ADDRESS').optional(),
      DATABASE_URL: databaseUrl(false).optional(),
      CUSTODY_DATABASE_URL: databaseUrl(false).optional(),
      TXMGR_DATA_DIR: z.string().min(1).default('.data'),
    }),
    env,
  );
  return {
    namespace: e.TEMPORAL_NAMESPACE,
    taskQueue: e.TEMPORAL_TASK_QUEUE,
    logLevel: e.LOG_LEVEL,
    temporalAddress: e.TEMPORAL_ADDRESS,
    databaseUrl: e.DATABASE_URL,
    custodyDatabaseUrl: e.CUSTODY_DATABASE_URL,
    dataDir: e.TXMGR_DATA_DIR,
  };
}
