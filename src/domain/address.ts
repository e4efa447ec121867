import { getAddressInfo, Network } from 'bitcoin-address-validation';
import { keccak_256 } from '@noble/hashes/sha3';
import { validationError } from './errors';

export type ChainNetwork = 'mainnet' | 'testnet';

const bytesToHex = (bytes: Uint8Array): string => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

/** The EIP-55 mixed-case form of a 40-hex-digit Ethereum address. */
export function eip55(address: string): string {
  const hex = address.slice(2).toLowerCase();
  const hash = bytesToHex(keccak_256(new TextEncoder().encode(hex)));
  let out = '0x';
  for (let i = 0; i < hex.length; i++) {
    const c = hex[i] as string;
    out += parseInt(hash[i] as string, 16) >= 8 ? c.toUpperCase() : c;
  }
  return out;
}

function bitcoinAddress(address: string, network: ChainNetwork): string {
  // bech32 is case-insensitive but must not mix cases; its canonical form is lower case.
  const text = /^(bc1|tb1|bcrt1)/i.test(address) && address === address.toUpperCase() ? address.toLowerCase() : address;
  let info: ReturnType<typeof getAddressInfo>;
  try {
    info = getAddressInfo(text);
  } catch {
    throw validationError(`address: "${address}" is not a valid Bitcoin address (bad format or checksum)`, { field: 'address' });
  }
  const want = network === 'mainnet' ? Network.mainnet : Network.testnet;
  if (info.network !== want) {
    throw validationError(`address: "${address}" is a Bitcoin ${info.network} address; this gateway sends on ${network}`, {
      field: 'address',
    });
  }
  return text;
}

function ethereumAddress(address: string): string {
  if (!/^0x[0-9a-fA-F]{40}$/.test(address)) {
    throw validationError(`address: "${address}" is not an Ethereum address (0x and 40 hex digits)`, { field: 'address' });
  }
  const checksummed = eip55(address);
  // Money goes only to an address whose checksum we could check: one without it (all one case) is refused too.
  if (address !== checksummed) {
    throw validationError(
      `address: "${address}" fails the EIP-55 checksum (letter case); check the address — its checksummed form would be given by the wallet`,
      { field: 'address' },
    );
  }
  return checksummed;
}

/**
 * Checks a destination's format and checksum for the asset's chain and network and returns
 * its canonical form (the allow-list and the gateway see only that form).
 */
export function canonicalAddress(asset: string, address: string, network: ChainNetwork): string {
  switch (asset) {
    case 'BTC':
      return bitcoinAddress(address, network);
    case 'ETH':
      return ethereumAddress(address);
    default:
      throw validationError(`asset: ${asset} cannot be withdrawn to a chain`, { field: 'asset' });
  }
}
