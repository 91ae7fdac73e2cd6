import { describe, expect, it } from 'vitest';
import type { Message, Producer, ProducerRecord } from 'kafkajs';
import { DLQ_SEND_BYTES, OMITTED_HEADER, isMessageTooLarge, sendDeadLetters, type DeadLetterCopy } from '../../../src/transport/dead-letters.js';

/** A producer that refuses, as the broker does, any send whose messages add up to more than `limitBytes`. */
function fakeProducer(limitBytes: number) {
  const sent: Message[][] = [];
  const size = (m: Message) =>
    (m.value ? (m.value as Buffer).length : 0) + Object.entries(m.headers ?? {}).reduce((n, [k, v]) => n + k.length + String(v).length, 0);
  const producer = {
    async send(record: ProducerRecord) {
      if (record.messages.reduce((n, m) => n + size(m), 0) > limitBytes) {
        throw Object.assign(new Error('retries wrapper'), { cause: Object.assign(new Error('too large'), { type: 'MESSAGE_TOO_LARGE' }) });
      }
      sent.push(record.messages);
      return [];
    },
  } as unknown as Producer;
  return { producer, sent };
}

const copy = (i: number, bytes: number): DeadLetterCopy => ({
  key: `k${i}`,
  value: Buffer.alloc(bytes, 'a'),
  headers: { 'x-signature': 'sha256=ab', 'x-dlq-reason': 'forged by the sender' },
  dlqHeaders: { 'x-dlq-reason': 'not JSON', 'x-original-offset': String(i) },
});

describe('sendDeadLetters', () => {
  it('caps each send in bytes and keeps the order, the original headers and our headers over theirs', async () => {
    const { producer, sent } = fakeProducer(10 * 1024 * 1024);
    const copies = Array.from({ length: 5000 }, (_, i) => copy(i, 300));
    await sendDeadLetters(producer, 'dlq', copies);
    expect(sent.length).toBeGreaterThan(2);
    const all = sent.flat();
    expect(all.map((m) => m.headers!['x-original-offset'])).toEqual(copies.map((_, i) => String(i)));
    expect(all[0]!.headers).toMatchObject({ 'x-signature': 'sha256=ab', 'x-dlq-reason': 'not JSON' });
    for (const batch of sent) expect(batch.reduce((n, m) => n + (m.value as Buffer).length, 0)).toBeLessThanOrEqual(DLQ_SEND_BYTES);
  });

  it('splits a send the broker refuses, and sends a copy it refuses alone without the original bytes', async () => {
    const { producer, sent } = fakeProducer(4000);
    await sendDeadLetters(producer, 'dlq', [copy(0, 1000), copy(1, 1000), copy(2, 5000), copy(3, 1000), copy(4, 1000)]);
    const all = sent.flat();
    expect(all.map((m) => m.headers!['x-original-offset'])).toEqual(['0', '1', '2', '3', '4']);
    const omitted = all[2]!;
    expect(omitted.value).toBeNull();
    expect(omitted.headers).toEqual({
      'x-dlq-reason': 'not JSON',
      'x-original-offset': '2',
      [OMITTED_HEADER]: expect.stringMatching(/^value and headers \(\d+ bytes\): too large for the DLQ topic$/),
    });
    expect(all.filter((m) => m.value === null)).toHaveLength(1);
  });

  it('throws other errors (the caller retries them)', async () => {
    const producer = { send: async () => Promise.reject(new Error('broker down')) } as unknown as Producer;
    await expect(sendDeadLetters(producer, 'dlq', [copy(0, 10)])).rejects.toThrow('broker down');
    expect(isMessageTooLarge(new Error('broker down'))).toBe(false);
  });
});
