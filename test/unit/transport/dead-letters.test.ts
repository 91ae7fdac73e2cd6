import { describe, expect, it } from 'vitest';
import type { Knex } from 'knex';
import type { Message, Producer, ProducerRecord } from 'kafkajs';
import { createLogger } from '../../../src/logger.js';
import { createMetrics } from '../../../src/metrics.js';
import { MAX_REQUEST_BYTES } from '../../../src/transport/kafka-limits.js';
import { deadLetterHeaders, sendDeadLetters } from '../../../src/transport/dead-letters.js';
import type { DeadLetterCopy } from '../../../src/models/parked.js';

/** A producer that refuses, as the broker does, any send whose messages add up to more than `limitBytes`. */
function fakeProducer(limitBytes: number) {
  const sent: Message[][] = [];
  const size = (m: Message) => (m.value ? (m.value as Buffer).length : 0);
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

/** A knex stand-in that records the parked rows (parkDeadLetter inserts into parked_dead_letters). */
function fakeKnex() {
  const parked: Record<string, unknown>[] = [];
  const knex = ((table: string) => ({ insert: async (row: Record<string, unknown>) => void parked.push({ table, ...row }) })) as unknown as Knex;
  return { knex, parked };
}

const copy = (i: number, bytes: number): DeadLetterCopy => ({
  topic: 'dlq',
  sourceTopic: 'source',
  partition: 0,
  offset: String(i),
  key: Buffer.from(`k${i}`),
  value: Buffer.alloc(bytes, 'a'),
  headers: deadLetterHeaders({ 'x-signature': 'sha256=ab', 'x-dlq-reason': 'forged by the sender' }, { 'x-dlq-reason': 'not JSON', 'x-original-offset': String(i) }),
  reason: 'not JSON',
});
const deps = (producer: Producer, knex: Knex) => ({ producer, knex, logger: createLogger('silent'), metrics: createMetrics() });

describe('sendDeadLetters', () => {
  it('caps each send in bytes and keeps the order, the original headers and ours over theirs', async () => {
    const { producer, sent } = fakeProducer(10 * 1024 * 1024);
    const { knex, parked } = fakeKnex();
    const copies = Array.from({ length: 5000 }, (_, i) => copy(i, 300));
    await sendDeadLetters(deps(producer, knex), copies);
    expect(sent.length).toBeGreaterThan(2);
    const all = sent.flat();
    expect(all.map((m) => m.headers!['x-original-offset'])).toEqual(copies.map((_, i) => String(i)));
    expect(all[0]!.headers).toMatchObject({ 'x-signature': 'sha256=ab', 'x-dlq-reason': 'not JSON' });
    for (const batch of sent) expect(batch.reduce((n, m) => n + (m.value as Buffer).length, 0)).toBeLessThanOrEqual(MAX_REQUEST_BYTES);
    expect(parked).toEqual([]);
  });

  it('repeats a refused send one copy at a time and parks the copy refused alone, with its bytes', async () => {
    const { producer, sent } = fakeProducer(4000);
    const { knex, parked } = fakeKnex();
    const copies = [copy(0, 1000), copy(1, 1000), copy(2, 5000), copy(3, 1000), copy(4, 1000)];
    const result = await sendDeadLetters(deps(producer, knex), copies);
    expect(sent.flat().map((m) => m.headers!['x-original-offset'])).toEqual(['0', '1', '3', '4']);
    expect([...result]).toEqual([copies[2]]);
    expect(parked).toMatchObject([{ table: 'parked_dead_letters', topic: 'dlq', source_offset: '2', reason: 'not JSON' }]);
    expect((parked[0]!.value as Buffer).length).toBe(5000);
  });

  it('throws other errors (the caller retries them) and parks nothing', async () => {
    const producer = { send: async () => Promise.reject(new Error('broker down')) } as unknown as Producer;
    const { knex, parked } = fakeKnex();
    await expect(sendDeadLetters(deps(producer, knex), [copy(0, 10)])).rejects.toThrow('broker down');
    expect(parked).toEqual([]);
  });
});
