import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { services } from './test-run.js';

// Where the integration tests find their services. The database is the run's own, made by global-setup.ts.
const run = inject('testRun');
if (!run) throw new Error('no test run: the integration tests run under test/integration/global-setup.ts (`npm test`)');

export const testRunId = run.id;
export const testDatabaseUrl = run.databaseUrl;
export const testBrokers = services.brokers.join(',');
export const testRedisUrl = services.redisUrl;

/** A name of this run's own, `test-<run id>-<hex>` (with `.` for a topic): removed with the run's leftovers. */
export const testResourceName = (separator: '-' | '.' = '-'): string => `test${separator}${testRunId}-${randomBytes(3).toString('hex')}`;

export const testKeys = {
  system: { keyId: 'test-system', secret: 'test-system-secret' },
  user: { keyId: 'test-user', secret: 'test-user-secret' },
};
export const testCommandKeys = `${testKeys.system.keyId}:${testKeys.system.secret}:system,${testKeys.user.keyId}:${testKeys.user.secret}:user`;
