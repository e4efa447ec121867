import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ensureDatabase } from '../db/admin';
import { migrate } from '../db/migrate';
import { acquireDataDir, type DataDirLock } from '../infra/data-dir';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../infra/embedded-postgres';
import { freePort } from '../infra/free-port';
import { STACK_MARKER } from '../infra/processes';
import { startSupervisor } from '../infra/supervisor';
import { findTemporalCli } from '../infra/temporal-cli';
import { PRIORITY_MATCHING, startTemporalDevServer, type DevServer } from '../infra/temporal-server';
import type { Logger } from '../logger';
import { SEARCH_ATTRIBUTES } from '../temporal/search-attributes';

/**
 * The chaos run's own stack, every part a separate process it can kill and start again:
 * PostgreSQL (embedded-postgres binaries), a file-backed Temporal dev server, the chain
 * simulator and N worker processes (`node dist/worker.js`), the databases migrated first.
 */

const DIST = path.resolve(__dirname, '..');
const PROJECT_ROOT = path.resolve(DIST, '..');
const NAMESPACE = 'default';
export const TASK_QUEUE = 'txmgr-chaos';
const CLI_TYPES: Record<string, string> = { KEYWORD_LIST: 'KeywordList', DATETIME: 'Datetime' };
const cliType = (t: string) => CLI_TYPES[t] ?? `${t.charAt(0)}${t.slice(1).toLowerCase()}`;

export interface ChaosStackOptions {
  dataDir: string;
  workers: number;
  logger: Logger;
  say: (line: string) => void;
  /** Hex key the workers seal and open one-time codes with (the driver seals with it too). */
  totpKeyHex: string;
}

interface WorkerSlot {
  child?: ChildProcess;
  exited?: Promise<number | null>;
  starts: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class ChaosStack {
  adminUrl = '';
  databaseUrl = '';
  custodyUrl = '';
  temporalAddress = '';
  chainUrl = '';
  readonly namespace = NAMESPACE;
  readonly taskQueue = TASK_QUEUE;
  private pg?: EmbeddedPostgres;
  private pgPort = 0;
  private temporal?: DevServer;
  private temporalPort = 0;
  private cliPath = '';
  private chain?: ChildProcess;
  private chainPort = 0;
  /** What happened to the chain simulator beyond the planned faults (it crashed and was restarted). */
  readonly chainRestarts: string[] = [];
  private lock?: DataDirLock;
  private readonly slots: WorkerSlot[];
  private paused = false;
  private stopping = false;

  constructor(private readonly o: ChaosStackOptions) {
    this.slots = Array.from({ length: o.workers }, () => ({ starts: 0 }));
  }

  private file(name: string): string {
    return path.join(this.o.dataDir, name);
  }

  async start(): Promise<void> {
    const dir = this.o.dataDir;
    this.lock = await acquireDataDir(dir, { command: 'txmgr chaos', log: this.o.say });
    this.lock.record({ supervisor: { pid: startSupervisor(dir, this.lock.info) ?? 0 } });
    // Every run starts from empty data: the plan's ids are the seed's, so a second run must not meet the first's rows.
    for (const e of fs.readdirSync(dir).filter((e) => !e.startsWith('txmgr.lock'))) {
      fs.rmSync(path.join(dir, e), { recursive: true, force: true });
    }
    this.pgPort = await freePort();
    await this.startPostgres();
    this.databaseUrl = await ensureDatabase(this.adminUrl, 'txmgr');
    this.custodyUrl = await ensureDatabase(this.adminUrl, 'txmgr_custody');
    const chainDb = await ensureDatabase(this.adminUrl, 'chainsim');
    await migrate(this.databaseUrl, this.o.logger);
    await migrate(this.custodyUrl, this.o.logger);
    const cli = findTemporalCli({ projectRoot: PROJECT_ROOT, log: this.o.say }).path;
    if (!cli) throw new Error('no Temporal CLI found (set TEMPORAL_CLI_PATH or put temporal on PATH)');
    this.cliPath = cli;
    this.temporalPort = await freePort();
    await this.startTemporal();
    this.chainPort = await freePort();
    await this.startChain(chainDb);
    for (let i = 0; i < this.slots.length; i++) this.startWorker(i);
    await Promise.all(this.slots.map((_, i) => this.waitWorkerReady(i)));
  }

  async startPostgres(): Promise<void> {
    this.pg = await startEmbeddedPostgres(this.file('postgres'), this.o.logger, {
      port: this.pgPort,
      durable: false,
      logFile: this.file('postgres.log'),
      marker: this.o.dataDir,
      onSpawn: (ref) => this.lock?.record({ services: { postgres: ref } }),
    });
    this.adminUrl = this.pg.adminUrl;
  }

  /** PostgreSQL's fast shutdown (SIGINT), then, after `downMs`, the same cluster on the same port. */
  async restartPostgres(downMs: number): Promise<void> {
    await this.pg?.stop();
    await sleep(downMs);
    await this.startPostgres();
  }

  private async startTemporal(): Promise<void> {
    this.temporal = await startTemporalDevServer({
      cliPath: this.cliPath,
      port: this.temporalPort,
      namespace: NAMESPACE,
      dbFile: this.file('temporal.sqlite'),
      dynamicConfig: PRIORITY_MATCHING,
      searchAttributes: SEARCH_ATTRIBUTES.map((k) => ({ name: k.name, type: cliType(k.type) })),
      logFile: this.file('temporal.log'),
      marker: this.o.dataDir,
      onSpawn: (ref) => this.lock?.record({ services: { temporal: ref } }),
    });
    this.temporalAddress = this.temporal.address;
  }

  /** SIGTERM to the dev server, then the same SQLite file on the same port: history survives. */
  async restartTemporal(): Promise<void> {
    await this.temporal?.stop();
    await this.startTemporal();
  }

  private async startChain(databaseUrl: string): Promise<void> {
    const child = spawn(process.execPath, [path.join(DIST, 'chain', 'sim-process.js')], {
      env: {
        PATH: process.env.PATH,
        CHAIN_SIM_DATABASE_URL: databaseUrl,
        CHAIN_SIM_PORT: String(this.chainPort),
        CHAIN_SIM_BLOCK_MS: '500',
        CHAIN_SIM_EXIT_WITH_PARENT: '1',
        [STACK_MARKER]: this.o.dataDir,
      },
      stdio: ['ignore', 'pipe', fs.openSync(this.file('chain-sim.log'), 'a')],
    });
    this.chain = child;
    this.chainUrl = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /listening on (http:\/\/\S+)/.exec(out);
        if (m?.[1]) resolve(m[1]);
      });
      child.once('exit', (code) => reject(new Error(`the chain simulator exited with code ${code} (see chain-sim.log)`)));
    });
    // A node that dies is started again, like a real one under a supervisor: its state is in PostgreSQL.
    child.once('exit', (code, signal) => {
      if (this.stopping || this.chain !== child) return;
      this.chainRestarts.push(
        `the chain simulator exited (${signal ?? `code ${code}`}); started again on port ${this.chainPort}`,
      );
      void this.restartChain(databaseUrl);
    });
  }

  private async restartChain(databaseUrl: string): Promise<void> {
    for (;;) {
      await sleep(1_000);
      if (this.stopping) return;
      try {
        await this.startChain(databaseUrl);
        return;
      } catch {
        // PostgreSQL may still be away: try again
      }
    }
  }

  workerEnv(): NodeJS.ProcessEnv {
    return {
      PATH: process.env.PATH,
      TEMPORAL_ADDRESS: this.temporalAddress,
      TEMPORAL_NAMESPACE: NAMESPACE,
      TEMPORAL_TASK_QUEUE: TASK_QUEUE,
      DATABASE_URL: this.databaseUrl,
      CUSTODY_DATABASE_URL: this.custodyUrl,
      CHAIN_GATEWAY_URL: this.chainUrl,
      CHAIN_NETWORK: 'mainnet',
      TXMGR_TOTP_KEY: this.o.totpKeyHex,
      PG_POOL_MAX: '12',
      WORKER_MAX_CONCURRENT_ACTIVITIES: '12',
      WORKER_SHUTDOWN_GRACE_MS: '10000',
      LOG_LEVEL: 'info',
      [STACK_MARKER]: this.o.dataDir,
    };
  }

  startWorker(i: number): void {
    const slot = this.slots[i]!;
    slot.starts++;
    const log = fs.openSync(this.file(`worker-${i}.log`), 'a');
    const child = spawn(process.execPath, [path.join(DIST, 'worker.js')], {
      env: this.workerEnv(),
      stdio: ['ignore', log, log],
    });
    fs.closeSync(log);
    slot.child = child;
    slot.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    child.once('exit', (code, signal) => {
      if (!this.stopping && slot.child === child && signal === null) {
        this.o.say(`  worker ${i} exited by itself with code ${code}; starting it again`);
        setTimeout(() => !this.stopping && slot.child === child && this.startWorker(i), 2_000);
      }
    });
  }

  /** Until the worker polls: its pid is known and it has not exited (a start-up failure restarts it). */
  async waitWorkerReady(i: number, timeoutMs = 120_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const marker = /"msg":"worker started"/;
    const logFile = this.file(`worker-${i}.log`);
    const before = this.slots[i]!.starts;
    while (Date.now() < deadline) {
      const text = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '';
      if ((text.match(new RegExp(marker, 'g'))?.length ?? 0) >= before) return;
      await sleep(250);
    }
    throw new Error(`worker ${i} did not start within ${timeoutMs / 1000} s (see worker-${i}.log)`);
  }

  /** Signals worker `i`; resolves with its exit code once it has exited. */
  async signalWorker(i: number, signal: 'SIGKILL' | 'SIGTERM'): Promise<number | null> {
    const slot = this.slots[i]!;
    const child = slot.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return null;
    slot.child = undefined;
    child.kill(signal);
    return slot.exited!;
  }

  /**
   * SIGSTOP to every worker: a frozen host (a long GC pause, a VM stalled). Activities in flight
   * stop where they are, their timeouts run out on the server, and after `resumeWorkers` each
   * first attempt goes on beside its retry.
   */
  pauseWorkers(): number {
    let paused = 0;
    for (const slot of this.slots) if (slot.child?.kill('SIGSTOP')) paused++;
    this.paused = true;
    return paused;
  }

  resumeWorkers(): void {
    this.paused = false;
    for (const slot of this.slots) slot.child?.kill('SIGCONT');
  }

  workerCount(): number {
    return this.slots.length;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    // A stopped process acts on no SIGTERM until it is continued.
    if (this.paused) this.resumeWorkers();
    // A worker whose activities hang (blocked on locks) never finishes draining: SIGKILL it after its grace and more.
    await Promise.all(
      this.slots.map(async (slot, i) => {
        const child = slot.child;
        const kill = setTimeout(() => child?.kill('SIGKILL'), 30_000);
        await this.signalWorker(i, 'SIGTERM');
        clearTimeout(kill);
      }),
    );
    if (this.chain && this.chain.exitCode === null) {
      const exited = new Promise((r) => this.chain!.once('exit', r));
      this.chain.kill('SIGTERM');
      await exited;
    }
    await this.temporal?.stop().catch(() => undefined);
    await this.pg?.stop().catch(() => undefined);
    this.lock?.release();
  }
}
