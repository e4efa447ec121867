import { createHash } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import { Pool, type PoolClient } from 'pg';
import { z } from 'zod';

/**
 * A simulated chain node: a real HTTP service with its state in its own PostgreSQL
 * database, so a restart forgets no broadcast. Idempotent by withdrawal id; a block is
 * mined every `blockMs`; faults are injected through /admin/faults, per call (the next
 * `calls` broadcasts) or per address.
 */

const SCHEMA = `
CREATE TABLE IF NOT EXISTS sim_chain (id int PRIMARY KEY, height bigint NOT NULL);
INSERT INTO sim_chain (id, height) VALUES (1, 0) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS sim_txs (
  withdrawal_id text PRIMARY KEY,
  tx_id         text NOT NULL UNIQUE,
  asset         text NOT NULL,
  address       text NOT NULL,
  amount        text NOT NULL,
  state         text NOT NULL CHECK (state IN ('mempool', 'mined', 'dropped', 'abandoned')),
  mined_height  bigint,
  slow_factor   int NOT NULL DEFAULT 1,
  reorg_at      int,
  reorgs        int NOT NULL DEFAULT 0,
  remine_at     bigint,
  broadcasts    int NOT NULL DEFAULT 1,
  created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS sim_faults (
  id        serial PRIMARY KEY,
  kind      text NOT NULL,
  address   text,
  remaining int,
  delay_ms  int,
  factor    int,
  depth     int
);`;

/** How many blocks an orphaned transaction waits in the mempool before it is mined again. */
const ORPHANED_BLOCKS = 4;

export const FAULT_KINDS = ['reject', 'timeout', 'drop', 'slow', 'reorg', 'error'] as const;

export const FaultRequest = z
  .object({
    kind: z.enum(FAULT_KINDS),
    /** Only broadcasts to this address; default every address. */
    address: z.string().min(1).max(128).optional(),
    /** Only the next N matching broadcasts; default until cleared. */
    calls: z.number().int().min(1).optional(),
    /** timeout: how long the answer is held back (the broadcast is recorded first). */
    delayMs: z.number().int().min(0).max(600_000).optional(),
    /** slow (and reorg): blocks per confirmation. */
    factor: z.number().int().min(2).max(1000).optional(),
    /** reorg: at this many confirmations the block is orphaned once and the transaction goes back to the mempool. */
    depth: z.number().int().min(1).max(1000).optional(),
  })
  .strict();
export type FaultRequest = z.infer<typeof FaultRequest>;

const Broadcast = z
  .object({
    withdrawalId: z.string().min(1).max(100),
    asset: z.string().min(1).max(12),
    address: z.string().min(1).max(128),
    amount: z.string().regex(/^[1-9][0-9]{0,37}$/),
  })
  .strict();

interface TxRow {
  withdrawal_id: string;
  tx_id: string;
  asset: string;
  address: string;
  amount: string;
  state: 'mempool' | 'mined' | 'dropped' | 'abandoned';
  mined_height: string | null;
  slow_factor: number;
  reorg_at: number | null;
  reorgs: number;
  broadcasts: number;
}

interface FaultRow {
  id: number;
  kind: (typeof FAULT_KINDS)[number];
  delay_ms: number | null;
  factor: number | null;
  depth: number | null;
}

const confirmationsOf = (tx: TxRow, height: number): number =>
  tx.state === 'mined' && tx.mined_height !== null ? Math.floor((height - Number(tx.mined_height) + 1) / tx.slow_factor) : 0;

function view(tx: TxRow, height: number) {
  const confirmations = confirmationsOf(tx, height);
  const state =
    tx.state === 'mined' ? (confirmations > 0 ? 'confirmed' : 'pending') : tx.state === 'mempool' ? 'pending' : tx.state;
  return {
    withdrawalId: tx.withdrawal_id,
    txId: tx.tx_id,
    state,
    confirmations,
    height,
    broadcasts: tx.broadcasts,
    reorgs: tx.reorgs,
  };
}

const ignore = (): void => undefined;

async function inTx<T>(pool: Pool, fn: (c: PoolClient) => Promise<T>): Promise<T> {
  const c = await pool.connect();
  // A connection lost while held (PostgreSQL restarted) errors the call, not the process.
  c.on('error', ignore);
  let broken: Error | undefined;
  try {
    await c.query('BEGIN');
    const out = await fn(c);
    await c.query('COMMIT');
    return out;
  } catch (err) {
    await c.query('ROLLBACK').catch((rollbackErr: Error) => (broken = rollbackErr));
    throw err;
  } finally {
    c.off('error', ignore);
    c.release(broken);
  }
}

const heightOf = async (db: Pool | PoolClient): Promise<number> =>
  Number((await db.query<{ height: string }>('SELECT height FROM sim_chain WHERE id = 1')).rows[0]?.height ?? 0);

/** Takes the first fault that applies to a broadcast to `address` and uses up one of its calls. */
async function takeFault(c: PoolClient, address: string): Promise<FaultRow | undefined> {
  const { rows } = await c.query<FaultRow>(
    `SELECT id, kind, delay_ms, factor, depth FROM sim_faults
      WHERE (address IS NULL OR address = $1) AND (remaining IS NULL OR remaining > 0)
      ORDER BY id LIMIT 1 FOR UPDATE`,
    [address],
  );
  const fault = rows[0];
  if (fault) await c.query('UPDATE sim_faults SET remaining = remaining - 1 WHERE id = $1 AND remaining IS NOT NULL', [fault.id]);
  return fault;
}

/** Mines one block: the mempool goes in, and a pending reorg orphans its transaction's block once. */
export async function mineBlock(pool: Pool): Promise<number> {
  return inTx(pool, async (c) => {
    const { rows } = await c.query<{ height: string }>('UPDATE sim_chain SET height = height + 1 WHERE id = 1 RETURNING height');
    const height = Number(rows[0]?.height);
    // A block whose transaction had reached a pending reorg's depth is orphaned (its confirmations
    // fall back to 0) and the transaction waits in the mempool a few blocks; then the mempool goes in.
    await c.query(
      `UPDATE sim_txs SET state = 'mempool', mined_height = NULL, reorg_at = NULL, reorgs = reorgs + 1, remine_at = $1 + $2
        WHERE state = 'mined' AND reorg_at IS NOT NULL AND ($1 - mined_height) / slow_factor >= reorg_at`,
      [height, ORPHANED_BLOCKS],
    );
    await c.query(
      `UPDATE sim_txs SET state = 'mined', mined_height = $1 WHERE state = 'mempool' AND (remine_at IS NULL OR remine_at <= $1)`,
      [height],
    );
    return height;
  });
}

export interface ChainSimulatorOptions {
  databaseUrl: string;
  host?: string;
  port?: number;
  blockMs?: number;
}

export interface ChainSimulator {
  url: string;
  server: FastifyInstance;
  pool: Pool;
  close(): Promise<void>;
}

export async function startChainSimulator(o: ChainSimulatorOptions): Promise<ChainSimulator> {
  const pool = new Pool({ connectionString: o.databaseUrl, max: 5 });
  pool.on('error', () => undefined);
  await pool.query(SCHEMA);
  const server = Fastify({ logger: false });

  server.get('/health', async () => ({ ok: true, height: await heightOf(pool) }));

  server.post('/v1/broadcast', async (req, reply) => {
    const parsed = Broadcast.safeParse(req.body);
    if (!parsed.success) return reply.code(400).send({ reason: `malformed broadcast: ${parsed.error.issues[0]?.message ?? ''}` });
    const b = parsed.data;
    const outcome = await inTx(pool, async (c) => {
      await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [b.withdrawalId]);
      const height = await heightOf(c);
      const existing = (await c.query<TxRow>('SELECT * FROM sim_txs WHERE withdrawal_id = $1', [b.withdrawalId])).rows[0];
      if (existing?.state === 'abandoned') return { code: 200, body: view(existing, height) };
      if (existing && (existing.asset !== b.asset || existing.address !== b.address || existing.amount !== b.amount)) {
        return { code: 409, body: { reason: `withdrawal ${b.withdrawalId} was broadcast with other fields` } };
      }
      if (existing && existing.state !== 'dropped') return { code: 200, body: view(existing, height) };
      const fault = await takeFault(c, b.address);
      if (fault?.kind === 'reject')
        return { code: 422, body: { reason: `transaction to ${b.address} rejected by the node (policy)` } };
      if (fault?.kind === 'error') return { code: 503, body: { reason: 'node busy' } };
      const state = fault?.kind === 'drop' ? 'dropped' : 'mempool';
      let tx: TxRow;
      if (existing) {
        tx = (
          await c.query<TxRow>(
            'UPDATE sim_txs SET state = $2, broadcasts = broadcasts + 1 WHERE withdrawal_id = $1 RETURNING *',
            [b.withdrawalId, state],
          )
        ).rows[0] as TxRow;
      } else {
        const txId = createHash('sha256').update(`sim:${b.withdrawalId}`).digest('hex');
        tx = (
          await c.query<TxRow>(
            `INSERT INTO sim_txs (withdrawal_id, tx_id, asset, address, amount, state, slow_factor, reorg_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *`,
            [
              b.withdrawalId,
              txId,
              b.asset,
              b.address,
              b.amount,
              state,
              fault?.kind === 'slow' || fault?.kind === 'reorg' ? (fault.factor ?? (fault.kind === 'slow' ? 5 : 1)) : 1,
              fault?.kind === 'reorg' ? (fault.depth ?? 1) : null,
            ],
          )
        ).rows[0] as TxRow;
      }
      return { code: 200, body: view(tx, height), delayMs: fault?.kind === 'timeout' ? (fault.delay_ms ?? 10_000) : 0 };
    });
    // A timeout fault records the broadcast and holds back the answer: the caller's retry must not send twice.
    if ('delayMs' in outcome && outcome.delayMs) await new Promise((r) => setTimeout(r, outcome.delayMs));
    return reply.code(outcome.code).send(outcome.body);
  });

  server.get<{ Params: { id: string } }>('/v1/tx/:id', async (req, reply) => {
    const tx = (await pool.query<TxRow>('SELECT * FROM sim_txs WHERE withdrawal_id = $1', [req.params.id])).rows[0];
    if (!tx) return reply.code(404).send({ reason: 'unknown withdrawal id' });
    return view(tx, await heightOf(pool));
  });

  server.post<{ Params: { id: string } }>('/v1/tx/:id/abandon', async (req) => {
    const id = req.params.id;
    // An id never seen is abandoned too (a placeholder): a broadcast arriving later is refused.
    const tx = await inTx(pool, async (c) => {
      await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [id]);
      const txId = createHash('sha256').update(`sim:${id}`).digest('hex');
      await c.query(
        `INSERT INTO sim_txs (withdrawal_id, tx_id, asset, address, amount, state) VALUES ($1, $2, '', '', '', 'abandoned')
         ON CONFLICT (withdrawal_id) DO UPDATE SET state = CASE WHEN sim_txs.state = 'dropped' THEN 'abandoned' ELSE sim_txs.state END`,
        [id, txId],
      );
      return (await c.query<TxRow>('SELECT * FROM sim_txs WHERE withdrawal_id = $1', [id])).rows[0] as TxRow;
    });
    return { abandoned: tx.state === 'abandoned', status: view(tx, await heightOf(pool)) };
  });

  server.post('/admin/faults', async (req, reply) => {
    const parsed = FaultRequest.safeParse(req.body);
    if (!parsed.success) return reply.code(400).send({ reason: parsed.error.issues.map((i) => i.message).join('; ') });
    const f = parsed.data;
    const { rows } = await pool.query<{ id: number }>(
      'INSERT INTO sim_faults (kind, address, remaining, delay_ms, factor, depth) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id',
      [f.kind, f.address ?? null, f.calls ?? null, f.delayMs ?? null, f.factor ?? null, f.depth ?? null],
    );
    return { id: rows[0]?.id };
  });
  server.delete('/admin/faults', async () => {
    await pool.query('DELETE FROM sim_faults');
    return { cleared: true };
  });
  server.get('/admin/txs', async () => {
    const height = await heightOf(pool);
    const { rows } = await pool.query<TxRow>('SELECT * FROM sim_txs ORDER BY created_at');
    return { height, txs: rows.map((t) => ({ ...view(t, height), address: t.address, amount: t.amount, asset: t.asset })) };
  });

  const address = await server.listen({ host: o.host ?? '127.0.0.1', port: o.port ?? 0 });
  let mining = false;
  const timer = setInterval(() => {
    if (mining) return;
    mining = true;
    mineBlock(pool)
      .catch(() => undefined)
      .finally(() => (mining = false));
  }, o.blockMs ?? 2_000);
  return {
    url: address,
    server,
    pool,
    async close() {
      clearInterval(timer);
      await server.close();
      await pool.end();
    },
  };
}
