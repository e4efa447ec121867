import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { Client } from 'pg';
import { dropDatabase, ensureDatabase } from '../../src/db/admin';
import type { FaultRequest } from '../../src/chain/simulator';

const ROOT = path.resolve(__dirname, '..', '..');

export interface SimTx {
  withdrawalId: string;
  txId: string;
  state: string;
  confirmations: number;
  broadcasts: number;
  reorgs: number;
  address: string;
  amount: string;
}

/**
 * The chain simulator as its own process (`src/chain/sim-process.ts`, run from source), with
 * its own database; stop and start it again on the same port and it remembers everything.
 */
export class ChainSimProcess {
  url = '';
  private child?: ChildProcess;
  private port = 0;
  private databaseUrl = '';
  private readonly databaseName = `chainsim_${randomBytes(4).toString('hex')}`;

  constructor(private readonly blockMs = 150) {}

  async start(): Promise<void> {
    const adminUrl = process.env.TXMGR_TEST_ADMIN_URL as string;
    this.databaseUrl ||= await ensureDatabase(adminUrl, this.databaseName);
    const child = spawn(process.execPath, ['-r', './bench/register.js', 'src/chain/sim-process.ts'], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH,
        CHAIN_SIM_DATABASE_URL: this.databaseUrl,
        CHAIN_SIM_PORT: String(this.port),
        CHAIN_SIM_EXIT_WITH_PARENT: '1',
        CHAIN_SIM_BLOCK_MS: String(this.blockMs),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    this.url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /listening on (http:\/\/[^\s]+)/.exec(out);
        if (m?.[1]) resolve(m[1]);
      });
      child.once('exit', (code) => reject(new Error(`chain-sim exited with ${code}: ${stderr}`)));
    });
    this.port = Number(new URL(this.url).port);
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
    this.child = undefined;
  }

  async dispose(): Promise<void> {
    await this.stop();
    if (this.databaseUrl) await dropDatabase(process.env.TXMGR_TEST_ADMIN_URL as string, this.databaseName);
  }

  private async call(method: string, p: string, body?: unknown): Promise<unknown> {
    const res = await fetch(`${this.url}${p}`, {
      method,
      headers: body === undefined ? undefined : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`chain-sim ${method} ${p}: HTTP ${res.status} ${await res.text()}`);
    return res.json();
  }

  fault(f: FaultRequest): Promise<unknown> {
    return this.call('POST', '/admin/faults', f);
  }

  clearFaults(): Promise<unknown> {
    return this.call('DELETE', '/admin/faults');
  }

  async txs(): Promise<SimTx[]> {
    return ((await this.call('GET', '/admin/txs')) as { txs: SimTx[] }).txs;
  }

  /**
   * Sets how many blocks make one confirmation of a withdrawal already sent (a `slow` fault
   * fixes it at broadcast): a test holds a transaction unconfirmed, then lets it confirm.
   */
  async setSlowFactor(withdrawalId: string, factor: number): Promise<void> {
    const client = new Client({ connectionString: this.databaseUrl });
    await client.connect();
    try {
      const { rowCount } = await client.query('UPDATE sim_txs SET slow_factor = $2 WHERE withdrawal_id = $1', [
        withdrawalId,
        factor,
      ]);
      if (rowCount !== 1) throw new Error(`chain-sim holds no transaction for withdrawal ${withdrawalId}`);
    } finally {
      await client.end();
    }
  }

  /** Transactions the chain holds for real (abandoned placeholders of never-sent ids not counted). */
  async sent(withdrawalId?: string): Promise<SimTx[]> {
    return (await this.txs()).filter((t) => t.amount !== '' && (withdrawalId === undefined || t.withdrawalId === withdrawalId));
  }
}
