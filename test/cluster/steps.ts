/**
 * The README's cluster path, in one place: the cluster-path test runs these and
 * test/unit/docker-compose.test.ts checks docker-compose.yml runs the same.
 */

/** Applies the migrations to DATABASE_URL (compose's `migrate` job). */
export const MIGRATE_COMMAND = ['npm', 'run', 'migrate'] as const;
/** Starts one worker (compose's `worker` service runs the script's command directly). */
export const WORKER_COMMAND = ['npm', 'run', 'worker'] as const;
/** The CLI as the README shows it. */
export const CLI_COMMAND = ['node', 'dist/client/cli.js'] as const;

/** The variables `migrate` is given, and nothing else: the owner's URL and the workers' (its role is made a member of txmgr_app). */
export const MIGRATE_ENV = ['DATABASE_URL', 'APP_DATABASE_URL'] as const;
/** The variables every worker is given (compose may tune more of src/config.ts's list). */
export const WORKER_ENV = [
  'TEMPORAL_ADDRESS',
  'TEMPORAL_NAMESPACE',
  'TEMPORAL_TASK_QUEUE',
  'DATABASE_URL',
  'WORKER_SHUTDOWN_GRACE_MS',
  'LOG_LEVEL',
] as const;

export type WorkerEnv = Record<(typeof WORKER_ENV)[number], string>;
