import type { Pool } from 'pg';
import type { ChainGateway } from '../chain/gateway';
import type { Logger } from '../logger';

/** What activities need from the outside world; tests pass real ones. */
export interface ActivityDeps {
  pool: Pool;
  /** The custody database (the hot-wallet side), when configured: the transaction core's second resource. */
  custodyPool?: Pool;
  logger: Logger;
  /** Wall clock for activities (workflows use the SDK's deterministic time). */
  clock?: () => Date;
  /** The chain gateway crypto withdrawals broadcast through (a simulator in tests and the demo). */
  chain?: ChainGateway;
  /** Key that seals TOTP secrets and one-time codes; default TXMGR_TOTP_KEY. */
  totpKey?: Buffer;
}
