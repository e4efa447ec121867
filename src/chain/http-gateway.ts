import { z } from 'zod';
import type { ChainNetwork } from '../domain/address';
import { ChainRejectedError, type BroadcastRequest, type ChainGateway, type ChainTxStatus } from './gateway';

const TxStatus = z.object({
  withdrawalId: z.string(),
  txId: z.string(),
  state: z.enum(['pending', 'confirmed', 'dropped', 'abandoned']),
  confirmations: z.number().int().min(0),
  height: z.number().int().min(0),
});

/** Client-error codes that mean "try again later", not "no". */
const TRANSIENT_4XX = new Set([408, 425, 429]);

export interface HttpGatewayOptions {
  /** e.g. http://127.0.0.1:18443 */
  baseUrl: string;
  network: ChainNetwork;
  /** Every call gives up after this long (a transient fault: the step retries, idempotent by withdrawal id). */
  timeoutMs?: number;
}

/** The chain gateway over HTTP (the simulator's API; a node adapter would speak the same interface). */
export class HttpChainGateway implements ChainGateway {
  readonly network: ChainNetwork;
  private readonly timeoutMs: number;

  constructor(private readonly options: HttpGatewayOptions) {
    this.network = options.network;
    this.timeoutMs = options.timeoutMs ?? 5_000;
  }

  async broadcast(request: BroadcastRequest): Promise<ChainTxStatus> {
    const { status, body } = await this.call('POST', '/v1/broadcast', request);
    if (status === 200) return TxStatus.parse(body);
    throw this.failure(status, body, 'broadcast');
  }

  async status(withdrawalId: string): Promise<ChainTxStatus | undefined> {
    const { status, body } = await this.call('GET', `/v1/tx/${encodeURIComponent(withdrawalId)}`);
    if (status === 404) return undefined;
    if (status === 200) return TxStatus.parse(body);
    throw this.failure(status, body, 'status');
  }

  async abandon(withdrawalId: string): Promise<{ abandoned: boolean; status?: ChainTxStatus }> {
    const { status, body } = await this.call('POST', `/v1/tx/${encodeURIComponent(withdrawalId)}/abandon`, {});
    if (status === 200) {
      const b = body as { abandoned: boolean; status: unknown };
      return { abandoned: b.abandoned === true, status: TxStatus.parse(b.status) };
    }
    throw this.failure(status, body, 'abandon');
  }

  private failure(status: number, body: unknown, what: string): Error {
    const reason = (body as { reason?: unknown } | undefined)?.reason;
    const text = typeof reason === 'string' ? reason : JSON.stringify(body);
    // 4xx is the chain's answer; anything else (5xx, an unexpected code) is a fault to retry, and so are
    // the 4xx that say "not now" (request timeout, too early, too many requests): faults are not outcomes.
    if (status >= 400 && status < 500 && !TRANSIENT_4XX.has(status)) {
      return new ChainRejectedError(`chain refused the ${what}: ${text}`);
    }
    return new Error(`chain gateway ${what} failed with HTTP ${status}: ${text}`);
  }

  private async call(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
    const res = await fetch(`${this.options.baseUrl}${path}`, {
      method,
      headers: body === undefined ? undefined : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(this.timeoutMs),
    }).catch((err: unknown) => {
      throw new Error(`chain gateway ${method} ${path} did not answer: ${err instanceof Error ? err.message : String(err)}`);
    });
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = { reason: text.slice(0, 200) };
    }
    return { status: res.status, body: parsed };
  }
}
