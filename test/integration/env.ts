// Where the integration tests find their services. The test database is separate from the quick-start one.
export const testDatabaseUrl = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/experimentation_test';
export const testBrokers = process.env.KAFKA_BROKERS ?? '127.0.0.1:9092';
export const testRedisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const testKeys = {
  system: { keyId: 'test-system', secret: 'test-system-secret' },
  user: { keyId: 'test-user', secret: 'test-user-secret' },
};
export const testCommandKeys = `${testKeys.system.keyId}:${testKeys.system.secret}:system,${testKeys.user.keyId}:${testKeys.user.secret}:user`;
