import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { Queue, Worker, QueueEvents } from 'bullmq';
import { createKafka } from '../../../src/transport/kafka.js';
import { createKnex } from '../../../src/db.js';
import { createRedis } from '../../../src/jobs/queues.js';
import { createLogger } from '../../../src/logger.js';
import { testBrokers, testDatabaseUrl, testRedisUrl, testResourceName } from '../env.js';

const logger = createLogger('warn');

describe('the real services', () => {
  const knex = createKnex(testDatabaseUrl, 2);
  afterAll(() => knex.destroy());

  it('produces and consumes a message through the Kafka broker', async () => {
    const kafka = createKafka(testBrokers.split(','), logger, 'foundation-test');
    const topic = `${testResourceName('.')}.foundation`;
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }], waitForLeaders: true });
    await admin.disconnect();

    const consumer = kafka.consumer({ groupId: `foundation-${randomUUID()}` });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const received = new Promise<string>((resolve) => {
      void consumer.run({ eachMessage: async ({ message }) => resolve(message.value!.toString()) });
    });
    const producer = kafka.producer();
    await producer.connect();
    const body = `hello ${randomUUID()}`;
    await producer.send({ topic, messages: [{ key: 'k', value: body }] });
    expect(await received).toBe(body);
    await producer.disconnect();
    await consumer.disconnect();
    await admin.connect();
    await admin.deleteTopics({ topics: [topic] });
    await admin.disconnect();
  });

  it('round-trips a row through Postgres with knex', async () => {
    const table = `foundation_${randomUUID().slice(0, 8)}`;
    await knex.schema.createTable(table, (t) => {
      t.increments('id');
      t.jsonb('doc');
    });
    try {
      const [row] = await knex(table).insert({ doc: { answer: 42 } }).returning('*');
      const read = await knex(table).where({ id: row.id }).first();
      expect(read.doc).toEqual({ answer: 42 });
    } finally {
      await knex.schema.dropTable(table);
    }
  });

  it('runs a job through BullMQ on the real Redis', async () => {
    const prefix = testResourceName();
    const queue = new Queue('echo', { connection: createRedis(testRedisUrl, 'queue'), prefix });
    const events = new QueueEvents('echo', { connection: createRedis(testRedisUrl, 'worker'), prefix });
    const worker = new Worker('echo', async (job) => ({ doubled: (job.data.n as number) * 2 }), { connection: createRedis(testRedisUrl, 'worker'), prefix });
    // Every connection ready before the job exists, so no part of the round trip is still connecting.
    await Promise.all([events.waitUntilReady(), worker.waitUntilReady(), queue.waitUntilReady()]);
    const job = await queue.add('double', { n: 21 });
    expect(await job.waitUntilFinished(events, 30_000)).toEqual({ doubled: 42 });
    await worker.close();
    await events.close();
    await queue.obliterate({ force: true });
    await queue.close();
  });
});
