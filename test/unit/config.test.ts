import { ConfigError, loadCommonConfig, loadWorkerConfig } from '../../src/config';

const base = { TEMPORAL_ADDRESS: 'temporal:7233', DATABASE_URL: 'postgres://u:p@db:5432/txmgr' };

describe('worker configuration', () => {
  test('applies defaults to a minimal environment', () => {
    expect(loadWorkerConfig(base)).toEqual({
      temporalAddress: 'temporal:7233',
      namespace: 'default',
      taskQueue: 'txmgr',
      databaseUrl: 'postgres://u:p@db:5432/txmgr',
      poolMax: 20,
      maxConcurrentActivities: 16,
      shutdownGraceMs: 10_000,
      logLevel: 'info',
      metricsBindAddress: undefined,
    });
  });

  test.each([
    [{ DATABASE_URL: base.DATABASE_URL }, 'TEMPORAL_ADDRESS is required'],
    [{ TEMPORAL_ADDRESS: 'x:1' }, 'DATABASE_URL is required'],
    [{ ...base, DATABASE_URL: 'mysql://x' }, 'DATABASE_URL must start with postgres://'],
    [{ ...base, PG_POOL_MAX: 'many' }, 'PG_POOL_MAX'],
    [
      { ...base, PG_POOL_MAX: '4', WORKER_MAX_CONCURRENT_ACTIVITIES: '8' },
      'PG_POOL_MAX must be at least WORKER_MAX_CONCURRENT_ACTIVITIES',
    ],
    [{ ...base, LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    [{ ...base, METRICS_BIND_ADDRESS: 'everywhere' }, 'METRICS_BIND_ADDRESS must be host:port'],
  ])('rejects %j naming the variable', (env, message) => {
    expect(() => loadWorkerConfig(env)).toThrow(ConfigError);
    expect(() => loadWorkerConfig(env)).toThrow(message);
  });

  test('treats empty variables as unset', () => {
    expect(() => loadWorkerConfig({ ...base, TEMPORAL_ADDRESS: '' })).toThrow('TEMPORAL_ADDRESS is required');
    expect(loadCommonConfig({ TEMPORAL_ADDRESS: '', DATABASE_URL: '' })).toMatchObject({
      temporalAddress: undefined,
      databaseUrl: undefined,
    });
  });
});
