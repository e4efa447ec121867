import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ChainRejectedError } from '../../src/chain/gateway';
import { HttpChainGateway } from '../../src/chain/http-gateway';

/** A stand-in node on loopback that answers every request with `status` and a reason. */
async function nodeAnswering(status: number): Promise<{ gateway: HttpChainGateway; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    req.resume();
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ reason: `answer ${status}` }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    gateway: new HttpChainGateway({ baseUrl: `http://127.0.0.1:${port}`, network: 'mainnet', timeoutMs: 2_000 }),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

const request = { withdrawalId: '6f1c1d3e-8a0b-4c55-9a51-6f5e0c7f2a10', asset: 'BTC', address: 'bc1qexample', amount: '1' };

describe('chain gateway: what an HTTP answer means', () => {
  test.each([408, 425, 429, 500, 503])('HTTP %i is a fault to retry, never a refusal', async (status) => {
    const node = await nodeAnswering(status);
    try {
      const err = await node.gateway.broadcast(request).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Error);
      expect(err).not.toBeInstanceOf(ChainRejectedError);
      expect((err as Error).message).toMatch(new RegExp(`HTTP ${status}`));
    } finally {
      await node.close();
    }
  });

  test.each([400, 409, 422])('HTTP %i is the node refusing the broadcast', async (status) => {
    const node = await nodeAnswering(status);
    try {
      const err = await node.gateway.broadcast(request).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ChainRejectedError);
      expect((err as Error).message).toBe(`chain refused the broadcast: answer ${status}`);
    } finally {
      await node.close();
    }
  });
});
