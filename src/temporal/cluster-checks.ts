import { NativeConnection } from '@temporalio/worker';
import { StartupCheckError } from '../config';
import type { Logger } from '../logger';
import { checkSearchAttributes, ensureSearchAttributes, registerCommand } from './ensure-search-attributes';

/** Bounded, so a wrong or black-holed TEMPORAL_ADDRESS fails in seconds instead of retrying on. */
export const TEMPORAL_CONNECT_TIMEOUT_MS = 10_000;

function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const firstLine = (err: unknown): string => String((err as Error)?.message ?? err).split('\n')[0] as string;
/** gRPC status of a failed call (5 NOT_FOUND, 7 PERMISSION_DENIED, ...), when it has one. */
const grpcCode = (err: unknown): number | undefined => (err as { code?: number }).code;

export interface ClusterCheckOptions {
  address: string;
  namespace: string;
  logger: Logger;
  /** Try to register missing search attributes (needs operator rights); default true. */
  register?: boolean;
  timeoutMs?: number;
}

/**
 * Connects to Temporal and checks, before a worker polls, that the namespace exists and
 * holds txmgr's search attributes (registering missing ones when allowed). Throws a
 * one-line StartupCheckError otherwise; returns the open connection.
 */
export async function connectCheckedTemporal(o: ClusterCheckOptions): Promise<NativeConnection> {
  const timeoutMs = o.timeoutMs ?? TEMPORAL_CONNECT_TIMEOUT_MS;
  const bounded = <T>(what: string, p: Promise<T>) =>
    withTimeout(
      p,
      timeoutMs,
      () => new StartupCheckError(`Temporal at ${o.address} did not answer ${what} within ${timeoutMs / 1000}s`),
    );
  let connection: NativeConnection;
  try {
    connection = await bounded('the connection', NativeConnection.connect({ address: o.address }));
  } catch (err) {
    if (err instanceof StartupCheckError) throw err;
    const m = firstLine(err);
    const reason = /connection refused/i.test(m)
      ? 'connection refused (is the Temporal frontend running there?)'
      : /dns|lookup|resolve/i.test(m)
        ? 'host not found'
        : m;
    throw new StartupCheckError(`cannot reach Temporal at ${o.address} (TEMPORAL_ADDRESS): ${reason}`);
  }
  try {
    await checkNamespaceAndAttributes(connection, o, bounded);
    return connection;
  } catch (err) {
    await connection.close().catch(() => undefined);
    throw err;
  }
}

async function checkNamespaceAndAttributes(
  connection: NativeConnection,
  o: ClusterCheckOptions,
  bounded: <T>(what: string, p: Promise<T>) => Promise<T>,
): Promise<void> {
  try {
    await bounded('describe namespace', connection.workflowService.describeNamespace({ namespace: o.namespace }));
  } catch (err) {
    if (err instanceof StartupCheckError) throw err;
    if (grpcCode(err) === 5) {
      throw new StartupCheckError(
        `namespace "${o.namespace}" (TEMPORAL_NAMESPACE) does not exist on ${o.address}; create it: temporal operator namespace create --address ${o.address} --namespace ${o.namespace}`,
      );
    }
    throw new StartupCheckError(`cannot describe namespace "${o.namespace}" on ${o.address}: ${firstLine(err)}`);
  }

  const check = await bounded('list search attributes', checkSearchAttributes(connection, o.namespace)).catch((err: unknown) => {
    if (err instanceof StartupCheckError) throw err;
    throw new StartupCheckError(`cannot list the search attributes of namespace "${o.namespace}": ${firstLine(err)}`);
  });
  if (check.wrongType.length > 0) {
    const list = check.wrongType.map((w) => `${w.name} is ${w.registered}, txmgr needs ${w.type}`).join('; ');
    throw new StartupCheckError(
      `search attributes of namespace "${o.namespace}" have the wrong type (${list}); a type cannot be changed in place`,
    );
  }
  if (check.missing.length === 0) return;

  let refusal = 'registering them is disabled (TXMGR_REGISTER_SEARCH_ATTRIBUTES=false)';
  if (o.register !== false) {
    try {
      const added = await bounded('register search attributes', ensureSearchAttributes(connection, o.namespace));
      o.logger.info({ namespace: o.namespace, added }, 'registered search attributes');
      return;
    } catch (err) {
      if (err instanceof StartupCheckError) throw err;
      refusal = `registering them was refused: ${firstLine(err)}`;
    }
  }
  const commands = check.missing.map((m) => registerCommand(o.address, o.namespace, m.name, m.type)).join(' && ');
  throw new StartupCheckError(
    `namespace "${o.namespace}" lacks txmgr's search attributes ${check.missing.map((m) => m.name).join(', ')} and ${refusal}; register them with: ${commands}`,
  );
}
