import { describe, expect, it } from 'vitest';
import { KafkaJSGroupCoordinatorNotFound, KafkaJSNonRetriableError, KafkaJSNumberOfRetriesExceeded, KafkaJSProtocolError } from 'kafkajs';
import { isRetriableKafkaError } from '../../../src/transport/kafka.js';

// What the readiness waits (ensureTopics, waitForGroupCoordinator) keep retrying until their deadline.
describe('isRetriableKafkaError', () => {
  const loading = new KafkaJSProtocolError(Object.assign(new Error("The coordinator is loading and hence can't process requests for this group"), { retriable: true }));

  it('retries what a starting broker answers, also when kafkajs wrapped it after its own retries', () => {
    expect(isRetriableKafkaError(loading)).toBe(true);
    expect(isRetriableKafkaError(new KafkaJSNumberOfRetriesExceeded(loading, { retryCount: 0, retryTime: 100 }))).toBe(true);
    // Its type declares no arguments; kafkajs passes the message (cluster/index.js).
    const notFound = new (KafkaJSGroupCoordinatorNotFound as unknown as new (message: string) => Error)('Failed to find group coordinator');
    expect(isRetriableKafkaError(notFound)).toBe(true);
  });

  it('gives up on errors that waiting does not fix', () => {
    expect(isRetriableKafkaError(new KafkaJSNonRetriableError('Invalid topics array'))).toBe(false);
    expect(isRetriableKafkaError(new KafkaJSProtocolError(Object.assign(new Error('Not authorized to access group'), { retriable: false })))).toBe(false);
    expect(isRetriableKafkaError(new TypeError('x is undefined'))).toBe(false);
    expect(isRetriableKafkaError(undefined)).toBe(false);
  });
});
