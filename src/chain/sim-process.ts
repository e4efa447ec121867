import { ensureDatabase } from '../db/admin';
import { startChainSimulator, type ChainSimulator } from './simulator';

export interface SimProcessOptions {
  port: number;
  host: string;
  blockMs: number;
  /** The simulator's own database; default the database `chainsim` on DATABASE_URL's server (created if missing). */
  databaseUrl?: string;
}

/** Where the simulator keeps its state: CHAIN_SIM_DATABASE_URL, else `chainsim` beside DATABASE_URL. */
export async function simulatorDatabase(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  if (env.CHAIN_SIM_DATABASE_URL) return env.CHAIN_SIM_DATABASE_URL;
  if (!env.DATABASE_URL)
    throw new Error('set CHAIN_SIM_DATABASE_URL (or DATABASE_URL, beside which the database chainsim is made)');
  return ensureDatabase(env.DATABASE_URL, 'chainsim');
}

/** Runs the simulator until SIGINT/SIGTERM; prints one line with its URL first. */
export async function runSimulatorProcess(o: SimProcessOptions): Promise<void> {
  const databaseUrl = o.databaseUrl ?? (await simulatorDatabase());
  const sim: ChainSimulator = await startChainSimulator({ databaseUrl, host: o.host, port: o.port, blockMs: o.blockMs });
  process.stdout.write(`chain-sim listening on ${sim.url} (a block every ${o.blockMs} ms)\n`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    // Started by the demo or a test: never outlive it (a kill -9 of the parent included).
    if (process.env.CHAIN_SIM_EXIT_WITH_PARENT === '1') {
      const parent = process.ppid;
      setInterval(() => process.ppid !== parent && stop(), 1_000).unref();
    }
  });
  await sim.close();
}

// `node -r ./bench/register.js src/chain/sim-process.ts` (tests) or `node dist/chain/sim-process.js`.
if (require.main === module) {
  runSimulatorProcess({
    port: Number(process.env.CHAIN_SIM_PORT ?? 0),
    host: process.env.CHAIN_SIM_HOST ?? '127.0.0.1',
    blockMs: Number(process.env.CHAIN_SIM_BLOCK_MS ?? 2000),
  }).catch((err: unknown) => {
    process.stderr.write(`chain-sim: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
