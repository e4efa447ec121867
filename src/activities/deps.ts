import type { Pool } from 'pg';
import type { Logger } from '../logger';

/** What activities need from the outside world; tests pass real ones. */
export interface ActivityDeps {
  pool: Pool;
  /** The custody database (the hot-wallet side), when configured: the transaction core's second resource. */
  custodyPool?: Pool;
  logger: Logger;
  /** Wall clock for activities (workflows use the SDK's deterministic time). */
  clock?: () => Date;
}
