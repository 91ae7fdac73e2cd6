import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Admin, Kafka, Producer } from 'kafkajs';
import { startTestWorker, systemActor, topicPrefixOf, type TestWorker, eventually } from '../harness.js';
import { createKafka } from '../../../src/transport/kafka.js';
import { createLogger } from '../../../src/logger.js';
import { createTopic, parkedMetrics, signedCommand } from './outbound-helpers.js';

// CONTRACT.md "Limits and hostile input", reply topics: the worker never creates a topic by replying, and a reply
// that cannot be delivered delays no other reply; after its attempts it is parked, counted and listed.

const nextId = () => randomInt(1_000_000, 2_000_000_000);

describe('replies to topics that do not exist', () => {
  let worker: TestWorker;
  let kafka: Kafka;
  let admin: Admin;
  let producer: Producer;

  beforeAll(async () => {
    worker = await startTestWorker({ REPLY_DELIVERY_ATTEMPTS: '3' });
    kafka = createKafka(worker.config.KAFKA_BROKERS, createLogger('error'), 'outbound-replies-test');
    admin = kafka.admin();
    producer = kafka.producer();
    await Promise.all([admin.connect(), producer.connect()]);
  });

  afterAll(async () => {
    await Promise.all([admin?.disconnect(), producer?.disconnect()]);
    await worker?.stop();
  });

  const parkedReply = (commandId: string) =>
    eventually(`the reply to ${commandId} parked`, async () => {
      const row = await worker.knex('reply_deliveries').where({ command_id: commandId }).whereNotNull('parked_at').first();
      return row ?? undefined;
    }, 40_000);

  it('64 commands in one stretch, one replying to a missing topic: the other 63 are answered at once, the topic is not created, the one is parked', async () => {
    const missing = `${topicPrefixOf(worker.env)}missing.replies`;
    const before = await parkedMetrics(worker, 'reply');
    const envelopes = Array.from({ length: 64 }, (_, i) =>
      worker.client.envelope({
        type: 'organisation.upsert',
        actor: systemActor,
        payload: { id: nextId(), name: `Org ${i}`, experimentationEnabled: true },
        ...(i === 0 ? { replyTo: missing } : {}),
      }),
    );
    const answered = envelopes.slice(1).map((e) => worker.client.waitForReply(e.id, 15_000));
    const started = Date.now();
    // One produce request, one key: one partition, one batch, one stretch of the pipeline (and one lane).
    await producer.send({ topic: worker.config.COMMANDS_TOPIC, acks: -1, messages: envelopes.map((e) => signedCommand(e, 'one-key')) });
    const replies = await Promise.all(answered);
    const elapsedMs = Date.now() - started;

    expect(replies.map((r) => r.status)).toEqual(envelopes.slice(1).map(() => 200));
    expect(elapsedMs).toBeLessThan(10_000);
    const parked = await parkedReply(envelopes[0]!.id);
    expect(parked.topic).toBe(missing);
    expect(parked.delivered_at).toBeNull();
    expect(parked.last_error).toContain(`reply topic ${missing} does not exist (UNKNOWN_TOPIC_OR_PARTITION`);
    // Its command was applied all the same; only the reply is undeliverable.
    expect(await worker.knex('processed_commands').where({ command_id: envelopes[0]!.id }).first('status')).toEqual({ status: 200 });
    expect(await admin.listTopics()).not.toContain(missing);
    // At least: the run's database may hold undelivered replies of earlier test files to topics deleted since,
    // which this worker's reconciler picks up and parks as well.
    const after = await parkedMetrics(worker, 'reply');
    expect(after.total).toBeGreaterThanOrEqual(before.total + 1);
    expect(after.now).toBeGreaterThanOrEqual(1);
  });

  it('a reply topic deleted after the worker replied to it neither comes back nor keeps replies to other topics from going out', async () => {
    const gone = `${topicPrefixOf(worker.env)}deleted.replies`;
    await createTopic(kafka, gone);
    const first = worker.client.envelope({ type: 'organisation.upsert', actor: systemActor, payload: { id: nextId(), name: 'first', experimentationEnabled: true }, replyTo: gone });
    await producer.send({ topic: worker.config.COMMANDS_TOPIC, acks: -1, messages: [signedCommand(first, 'deleted-topic')] });
    await eventually('the first reply delivered', async () => (await worker.knex('reply_deliveries').where({ command_id: first.id }).whereNotNull('delivered_at').first()) ?? undefined);

    // A client the worker has not replied to yet: kafkajs asks for the metadata of every topic its producer has
    // sent to whenever a new one comes along, so a producer that knew the deleted topic would fail this one too.
    const other = await worker.newClient();
    await admin.deleteTopics({ topics: [gone] });
    await eventually('the topic deleted', async () => ((await admin.listTopics()).includes(gone) ? undefined : true));

    const second = other.envelope({ type: 'organisation.upsert', actor: systemActor, payload: { id: nextId(), name: 'second', experimentationEnabled: true }, replyTo: gone });
    await producer.send({ topic: worker.config.COMMANDS_TOPIC, acks: -1, messages: [signedCommand(second, 'deleted-topic')] });
    const started = Date.now();
    const replies = await Promise.all(
      Array.from({ length: 8 }, () => other.send({ type: 'organisation.upsert', actor: systemActor, payload: { id: nextId(), name: 'other', experimentationEnabled: true } }, { timeout: 15_000 })),
    );
    expect(replies.map((r) => r.status)).toEqual(replies.map(() => 200));
    expect(Date.now() - started).toBeLessThan(10_000);

    const parked = await parkedReply(second.id);
    expect(parked.last_error).toContain(`reply topic ${gone} does not exist`);
    expect(await admin.listTopics()).not.toContain(gone);
  });
});
