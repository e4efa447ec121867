import { HttpChainGateway } from './http-gateway';

/** The chain gateway named by CHAIN_GATEWAY_URL (CHAIN_NETWORK mainnet|testnet, CHAIN_GATEWAY_TIMEOUT_MS); none when unset. */
export function chainGatewayFromEnv(env: NodeJS.ProcessEnv = process.env): HttpChainGateway | undefined {
  const baseUrl = env.CHAIN_GATEWAY_URL;
  if (!baseUrl) return undefined;
  const network = env.CHAIN_NETWORK === 'testnet' ? 'testnet' : 'mainnet';
  const timeoutMs = env.CHAIN_GATEWAY_TIMEOUT_MS ? Number(env.CHAIN_GATEWAY_TIMEOUT_MS) : undefined;
  return new HttpChainGateway({ baseUrl: baseUrl.replace(/\/+$/, ''), network, timeoutMs });
}
