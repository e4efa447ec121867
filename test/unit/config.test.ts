import { ConfigError, loadCommonConfig, loadMigrateConfig, loadWorkerConfig } from '../../src/config';

const base = { TEMPORAL_ADDRESS: 'temporal:7233', DATABASE_URL: 'postgres://u:p@db:5432/txmgr' };

describe('worker configuration', () => {
  test('applies defaults to a minimal environment', () => {
    expect(loadWorkerConfig(base)).toEqual({
      temporalAddress: 'temporal:7233',
      namespace: 'default',
      taskQueue: 'txmgr',
      databaseUrl: 'postgres://u:p@db:5432/txmgr',
      poolMax: 20,
      lockTimeoutMs: 2_000,
      maxConcurrentActivities: 16,
      shutdownGraceMs: 10_000,
      logLevel: 'info',
      metricsBindAddress: undefined,
      registerSearchAttributes: true,
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
    // A lock wait must end before the activities' 30 s start-to-close does.
    [{ ...base, DB_LOCK_TIMEOUT_MS: '30000' }, 'DB_LOCK_TIMEOUT_MS'],
    [{ ...base, METRICS_BIND_ADDRESS: 'everywhere' }, 'METRICS_BIND_ADDRESS must be host:port'],
    [{ ...base, TEMPORAL_ADDRESS: 'localhost' }, 'TEMPORAL_ADDRESS must be host:port (e.g. localhost:7233'],
    [{ ...base, TEMPORAL_ADDRESS: 'http://temporal:7233' }, 'TEMPORAL_ADDRESS must be host:port'],
    [{ ...base, DATABASE_URL: 'postgres://u:p@' }, 'DATABASE_URL is not a valid URL'],
    [{ ...base, TXMGR_REGISTER_SEARCH_ATTRIBUTES: 'maybe' }, 'TXMGR_REGISTER_SEARCH_ATTRIBUTES must be true or false'],
  ])('rejects %j naming the variable', (env, message) => {
    expect(() => loadWorkerConfig(env)).toThrow(ConfigError);
    expect(() => loadWorkerConfig(env)).toThrow(message);
  });

  test('names every bad variable at once', () => {
    const env = { TEMPORAL_ADDRESS: 'localhost', DATABASE_URL: 'mysql://x', LOG_LEVEL: 'loud' };
    for (const message of ['TEMPORAL_ADDRESS must be host:port', 'DATABASE_URL must start', 'LOG_LEVEL:']) {
      expect(() => loadWorkerConfig(env)).toThrow(message);
    }
  });

  test('accepts IPv6 and named hosts with a port', () => {
    expect(loadWorkerConfig({ ...base, TEMPORAL_ADDRESS: '[::1]:7233' }).temporalAddress).toBe('[::1]:7233');
    expect(loadWorkerConfig({ ...base, TEMPORAL_ADDRESS: 'temporal.example.com:443' }).temporalAddress).toBe(
      'temporal.example.com:443',
    );
    expect(loadWorkerConfig({ ...base, TXMGR_REGISTER_SEARCH_ATTRIBUTES: 'false' }).registerSearchAttributes).toBe(false);
  });

  test('the CLI and migrate validate the same way', () => {
    expect(() => loadCommonConfig({ TEMPORAL_ADDRESS: 'localhost' })).toThrow('TEMPORAL_ADDRESS must be host:port');
    expect(() => loadMigrateConfig({})).toThrow('DATABASE_URL is required');
    expect(loadMigrateConfig({ DATABASE_URL: base.DATABASE_URL }).databaseUrl).toBe(base.DATABASE_URL);
  });

  test('treats empty variables as unset', () => {
    expect(() => loadWorkerConfig({ ...base, TEMPORAL_ADDRESS: '' })).toThrow('TEMPORAL_ADDRESS is required');
    expect(loadCommonConfig({ TEMPORAL_ADDRESS: '', DATABASE_URL: '' })).toMatchObject({
      temporalAddress: undefined,
      databaseUrl: undefined,
    });
  });
});
