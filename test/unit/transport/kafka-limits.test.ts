import { describe, expect, it } from 'vitest';
import { CompressionTypes, KafkaJSConnectionError, KafkaJSNumberOfRetriesExceeded, KafkaJSProtocolError } from 'kafkajs';
import { COMPRESS_FROM_BYTES, MAX_REQUEST_BYTES, byteCappedChunks, classifySendError, compressionFor, messageBytes } from '../../../src/transport/kafka-limits.js';

// kafkajs builds protocol errors from the broker's error code (protocol/error.js): type, code, retriable, message.
const protocolError = (type: string, code: number, retriable: boolean, message: string) =>
  new KafkaJSProtocolError(Object.assign(new Error(message), { type, code, retriable }) as unknown as Error);
const afterRetries = (error: Error) => new KafkaJSNumberOfRetriesExceeded(error, { retryCount: 2, retryTime: 400 });

describe('byteCappedChunks', () => {
  it('keeps the order and caps every chunk in bytes; an item over the cap is a chunk of its own', () => {
    const sizes = [100, 200, 300, 1000, 50, 50, 400];
    const chunks = byteCappedChunks(sizes, (n) => n, 500);
    expect(chunks).toEqual([[100, 200], [300], [1000], [50, 50, 400]]);
    expect(chunks.flat()).toEqual(sizes);
    expect(byteCappedChunks([], (n: number) => n)).toEqual([]);
  });

  it('splits 500 rows of 10 KiB into requests of at most MAX_REQUEST_BYTES', () => {
    const chunks = byteCappedChunks(Array.from({ length: 500 }, () => 10 * 1024), (n) => n);
    expect(chunks.length).toBeGreaterThan(5);
    for (const chunk of chunks) expect(chunk.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(MAX_REQUEST_BYTES);
  });
});

describe('messageBytes / compressionFor', () => {
  it('counts key, value, header names and values, plus framing', () => {
    const bare = messageBytes({ key: null, value: null });
    expect(messageBytes({ key: 'k', value: Buffer.alloc(1000), headers: { 'correlation-id': 'abc' } })).toBe(bare + 1 + 1000 + 'correlation-id'.length + 3 + 8);
    expect(messageBytes({ key: null, value: 'é' })).toBe(bare + 2);
  });

  it('compresses large requests only', () => {
    expect(compressionFor(COMPRESS_FROM_BYTES - 1)).toBe(CompressionTypes.None);
    expect(compressionFor(COMPRESS_FROM_BYTES)).toBe(CompressionTypes.GZIP);
  });
});

describe('classifySendError', () => {
  it('a message the broker refuses for good is refused, also inside kafkajs wrappers', () => {
    const tooLarge = protocolError('MESSAGE_TOO_LARGE', 10, false, 'The request included a message larger than the max message size the server will accept');
    expect(classifySendError(tooLarge)).toEqual({ failure: 'refused', detail: 'MESSAGE_TOO_LARGE: The request included a message larger than the max message size the server will accept' });
    expect(classifySendError(new KafkaJSNumberOfRetriesExceeded(tooLarge, { retryCount: 0, retryTime: 0 })).failure).toBe('refused');
    for (const [type, code] of [['INVALID_TOPIC_EXCEPTION', 17], ['INVALID_RECORD', 87], ['TOPIC_AUTHORIZATION_FAILED', 29], ['RECORD_LIST_TOO_LARGE', 18]] as const) {
      expect(classifySendError(protocolError(type, code, false, 'x')).failure).toBe('refused');
    }
  });

  it('a topic that does not exist is missing-topic, after the producer gave up retrying', () => {
    const unknown = protocolError('UNKNOWN_TOPIC_OR_PARTITION', 3, true, 'This server does not host this topic-partition');
    expect(classifySendError(afterRetries(unknown)).failure).toBe('missing-topic');
  });

  it('a broker that does not answer, or answers with a passing condition, is unreachable', () => {
    expect(classifySendError(afterRetries(new KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:9092'))).failure).toBe('unreachable');
    expect(classifySendError(afterRetries(protocolError('LEADER_NOT_AVAILABLE', 5, true, 'There is no leader for this topic-partition'))).failure).toBe('unreachable');
    expect(classifySendError(new Error('The producer is disconnected')).failure).toBe('unreachable');
  });

  it('anything else is other: not parked, not waited for', () => {
    expect(classifySendError(protocolError('OUT_OF_ORDER_SEQUENCE_NUMBER', 45, false, 'x')).failure).toBe('other');
    expect(classifySendError(protocolError('CLUSTER_AUTHORIZATION_FAILED', 31, false, 'x')).failure).toBe('other');
    expect(classifySendError(new TypeError('boom'))).toEqual({ failure: 'other', detail: 'boom' });
  });
});
