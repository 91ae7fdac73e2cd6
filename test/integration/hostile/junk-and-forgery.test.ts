import { randomInt, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue, type ConnectionOptions } from 'bullmq';
import { Redis } from 'ioredis';
import { startTestWorker, systemActor, type TestWorker } from '../harness.js';
import { createKafka } from '../../../src/transport/kafka.js';
import { createLogger } from '../../../src/logger.js';
import { QUEUE_NAMES } from '../../../src/jobs/queues.js';

// Unauthenticated input cannot grow the worker's state, and whoever can write to Redis cannot run a command:
// a retry job names a held row in Postgres, never a command.

let worker: TestWorker;
beforeAll(async () => {
  worker = await startTestWorker();
});
afterAll(() => worker?.stop());

const metricsText = async () => (await fetch(`http://127.0.0.1:${worker.app.httpPort}/metrics`)).text();
const upsert = (id: number) => ({ type: 'organisation.upsert', actor: systemActor, payload: { id, name: `Org ${id}`, experimentationEnabled: true } });

describe('hostile senders', () => {
  it('3,000 unsigned messages with junk types leave /metrics within 50 kB of where it was, and everyone else is answered', async () => {
    // Warm up every label the test itself causes (a 200 and a 401), so the growth measured is the junk's alone.
    expect((await worker.client.send(upsert(randomInt(1e6, 2e9)))).status).toBe(200);
    await worker.client.sendRaw(Buffer.from(JSON.stringify({ id: randomUUID(), type: 'warm.up' })), { keyId: null, signature: null });
    const before = (await metricsText()).length;

    const producer = createKafka(worker.config.KAFKA_BROKERS, createLogger('error'), 'junk-sender').producer();
    await producer.connect();
    const ids: string[] = [];
    try {
      const messages = Array.from({ length: 3000 }, () => {
        const id = randomUUID();
        ids.push(id);
        return { key: `junk-${randomInt(0, 50)}`, value: JSON.stringify({ id, type: `junk.${randomUUID()}`, actor: { type: 'system', id: randomUUID() }, payload: {} }) };
      });
      for (let i = 0; i < messages.length; i += 500) await producer.send({ topic: worker.config.COMMANDS_TOPIC, messages: messages.slice(i, i + 500) });
    } finally {
      await producer.disconnect();
    }
    // A signed command sent after the junk is answered.
    expect((await worker.client.send(upsert(randomInt(1e6, 2e9)), { timeout: 60_000 })).status).toBe(200);
    await expect.poll(async () => Number((await worker.knex('reply_deliveries').whereIn('command_id', ids).count({ n: '*' }))[0]!.n), { timeout: 30_000 }).toBe(3000);
    // Each junk message was answered 401, and nothing was applied or stored in the inbox.
    expect(await worker.knex('processed_commands').whereIn('command_id', ids).count({ n: '*' })).toEqual([{ n: 0 }]);
    const after = await metricsText();
    expect(after.length - before).toBeLessThan(50_000);
    expect(after).not.toContain('junk.');
  }, 120_000);

  it('forged retry jobs written straight into Redis run nothing, and the worker goes on', async () => {
    const redis = new Redis(worker.config.REDIS_URL, { maxRetriesPerRequest: null });
    const queue = new Queue(QUEUE_NAMES.commandRetries, { connection: redis as unknown as ConnectionOptions, prefix: worker.config.QUEUE_PREFIX });
    const orgId = randomInt(1e6, 2e9);
    try {
      // An older version's shape (the command itself), and one naming a held row that does not exist.
      const forged = await queue.addBulk([
        { name: 'command', data: { envelope: { id: randomUUID(), ...upsert(orgId) }, replyTopic: worker.config.REPLIES_TOPIC } as never },
        { name: 'command', data: { heldId: 987_654_321, commandId: randomUUID(), type: 'organisation.upsert' } },
      ]);
      await expect.poll(async () => Promise.all(forged.map((j) => j.getState())), { timeout: 20_000 }).toEqual(['completed', 'completed']);
    } finally {
      await queue.close();
      redis.disconnect();
    }
    expect(await worker.knex('organisations').where({ id: orgId }).first()).toBeUndefined();
    expect((await worker.client.send(upsert(randomInt(1e6, 2e9)))).status).toBe(200);
  });
});
