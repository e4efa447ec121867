import { FAULT_KINDS } from '../../src/chaos/plan';
import { txmgr } from './cli-process';

/**
 * `txmgr chaos` as a process, bounded: a few dozen sagas of every kind on its own stack
 * (PostgreSQL, a file-backed dev server, the chain simulator, two workers) under every fault
 * kind, with a 10 s PostgreSQL outage, is test/chaos/bounded-run.test.ts (npm run test:chaos); here,
 * the plan it runs. The full run is `npm run chaos`.
 */
const SEED = '11';
const BOUNDED = ['chaos', '--seed', SEED, '--sagas', '40', '--outage-seconds', '10'];
const env = process.env.TEMPORAL_CLI_PATH ? { TEMPORAL_CLI_PATH: process.env.TEMPORAL_CLI_PATH } : {};

describe('txmgr chaos', () => {
  test('the same seed plans the same workload and fault schedule, with every fault kind; another seed plans another', async () => {
    const [a, b, other] = await Promise.all([
      txmgr([...BOUNDED, '--plan-only'], env),
      txmgr([...BOUNDED, '--plan-only'], env),
      txmgr(['chaos', '--seed', '12', '--sagas', '40', '--outage-seconds', '10', '--plan-only'], env),
    ]);
    expect([a.code, b.code, other.code]).toEqual([0, 0, 0]);
    expect(b.stdout).toBe(a.stdout);
    expect(other.stdout).not.toBe(a.stdout);
    for (const kind of FAULT_KINDS) expect(a.stdout).toContain(` ${kind}`);
    expect(a.stdout).toContain('postgres-outage  seconds=10');
  });
});
