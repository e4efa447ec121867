import { makeTelemetryFilterString, Runtime } from '@temporalio/worker';
import type { Logger } from '../logger';
import { PinoSdkLogger } from './sdk-logger';

let installed = false;

/**
 * Installs the SDK runtime once per process: pino for its logs and, when an address
 * is given, the SDK's Prometheus metrics endpoint. Must run before any connection.
 */
export function installRuntime(logger: Logger, options: { metricsBindAddress?: string } = {}): void {
  if (installed) return;
  installed = true;
  Runtime.install({
    logger: new PinoSdkLogger(logger.child({ component: 'temporal-sdk' })),
    telemetryOptions: {
      logging: { forward: {}, filter: makeTelemetryFilterString({ core: 'WARN' }) },
      ...(options.metricsBindAddress ? { metrics: { prometheus: { bindAddress: options.metricsBindAddress } } } : {}),
    },
  });
}
