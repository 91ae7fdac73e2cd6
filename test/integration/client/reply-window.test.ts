import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { Kafka, logLevel } from 'kafkajs';
import { ExperimentationClient } from '../../../src/client/index.js';
import { testBrokers, testKeys, testResourceName } from '../env.js';

// A reply that arrives right after connect() returns is read (the client seeks to where its topics ended before it
// joined, packages/client/src/client.ts connect). Without that, kafkajs looked the
// end up at the first fetch, after joining: 3 of 10 such replies were missed on a fresh topic.
describe('the client reading its reply topic', () => {
  const kafka = new Kafka({ clientId: 'reply-window-test', brokers: testBrokers.split(','), logLevel: logLevel.NOTHING });
  const producer = kafka.producer();
  afterAll(() => producer.disconnect());

  it('gets a reply produced as soon as connect() has returned, every time', async () => {
    await producer.connect();
    for (let i = 0; i < 8; i++) {
      const replyTopic = `${testResourceName('.')}.replies`;
      const client = new ExperimentationClient({ kafka, ...testKeys.system, replyTopic });
      await client.connect();
      try {
        const id = randomUUID();
        const waited = client.waitForReply(id, 10_000);
        await producer.send({ topic: replyTopic, messages: [{ key: id, value: JSON.stringify({ commandId: id, type: 'test.ping', status: 200, body: {}, processedAt: new Date().toISOString() }) }] });
        await expect(waited).resolves.toMatchObject({ commandId: id, status: 200 });
      } finally {
        await client.disconnect();
      }
    }
  });
});
