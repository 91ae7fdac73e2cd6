import { describe, expect, it } from 'vitest';
import type { Producer, ProducerBatch } from 'kafkajs';
import { RenewableProducer } from '../../../src/transport/renewable-producer.js';
import { createLogger } from '../../../src/logger.js';

interface FakeProducer {
  id: number;
  sent: ProducerBatch[];
  disconnected: boolean;
}

/** Fake kafkajs producers: `fail(batch)` decides whether a send fails; `gate` holds sends until released. */
function fakes(fail: (batch: ProducerBatch) => Error | undefined = () => undefined) {
  const made: FakeProducer[] = [];
  let gate: Promise<void> = Promise.resolve();
  const create = () => {
    const fake: FakeProducer = { id: made.length, sent: [], disconnected: false };
    made.push(fake);
    return {
      connect: async () => {},
      disconnect: async () => void (fake.disconnected = true),
      sendBatch: async (batch: ProducerBatch) => {
        await gate;
        const error = fail(batch);
        if (error) throw error;
        fake.sent.push(batch);
        return [];
      },
    } as unknown as Producer;
  };
  return { made, create, hold: (until: Promise<void>) => (gate = until) };
}

const batch = (topic: string): ProducerBatch => ({ topicMessages: [{ topic, messages: [{ value: 'v' }] }] });
const logger = createLogger('silent');

describe('RenewableProducer', () => {
  it('replaces the producer whose send failed with an error it was told to renew on, and only that one', async () => {
    const { made, create } = fakes((b) => (b.topicMessages![0]!.topic === 'gone' ? new Error('UNKNOWN_TOPIC_OR_PARTITION') : undefined));
    const producer = new RenewableProducer(create, { logger, name: 'test' });
    await producer.sendBatch(batch('a'));
    await expect(producer.sendBatch(batch('gone'), { renewOn: () => true })).rejects.toThrow('UNKNOWN_TOPIC');
    await producer.sendBatch(batch('b'));
    expect(made.map((p) => p.sent.map((s) => s.topicMessages![0]!.topic))).toEqual([['a'], ['b']]);
    expect(made[0]!.disconnected).toBe(true);
    await expect(producer.sendBatch(batch('gone'))).rejects.toThrow();
    expect(made).toHaveLength(2); // no renewOn: kept
    await producer.disconnect();
    expect(made[1]!.disconnected).toBe(true);
  });

  it('disconnects a replaced producer only once its sends in flight have settled', async () => {
    const { made, create, hold } = fakes();
    const producer = new RenewableProducer(create, { logger, name: 'test' });
    let release!: () => void;
    hold(new Promise<void>((r) => (release = r)));
    const inFlight = producer.sendBatch(batch('a'));
    await new Promise((r) => setTimeout(r, 5));
    producer.renew('test');
    expect(made[0]!.disconnected).toBe(false);
    release();
    await inFlight;
    await new Promise((r) => setTimeout(r, 5));
    expect(made[0]!.disconnected).toBe(true);
    expect(made[0]!.sent).toHaveLength(1);
  });

  it('starts a fresh producer once one has sent to more than maxTopics topics', async () => {
    const { made, create } = fakes();
    const producer = new RenewableProducer(create, { logger, name: 'test', maxTopics: 2 });
    for (const topic of ['a', 'b', 'a', 'c', 'd']) await producer.sendBatch(batch(topic));
    expect(made.map((p) => p.sent.length)).toEqual([4, 1]);
    await producer.disconnect();
  });
});
