import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kafka, KafkaMessage } from 'kafkajs';
import { startTestWorker, topicPrefixOf, type TestWorker, eventually } from '../harness.js';
import { createKafka } from '../../../src/transport/kafka.js';
import { createLogger } from '../../../src/logger.js';
import { domainEvent, insertOutboxRows, outboxRow } from '../../../src/models/outbox.js';
import type { DomainEvent } from '../../../src/contracts/envelope.js';
import { createTopic, noise, parkedMetrics, readTopic } from './outbound-helpers.js';

// CONTRACT.md "Limits and hostile input": events of any size the limits allow are delivered (compressed, on topics
// made for them), and an event the broker refuses for good is parked instead of blocking the events behind it.
// The rows are written to the outbox directly, as the handlers' transactions do, so each case is exact.

const event = (environment: string, data: unknown): DomainEvent =>
  domainEvent({ type: 'metric.created', environment, occurredAt: new Date().toISOString(), commandId: null, actor: null, data });
const idsOf = (messages: KafkaMessage[]) => messages.map((m) => (JSON.parse(m.value!.toString('utf8')) as DomainEvent).id);

describe('the outbox relay and what the broker refuses', () => {
  let worker: TestWorker;
  let kafka: Kafka;
  /** A topic with a limit of 64 KiB per record batch, as a topic someone else created might have. */
  let small: string;

  beforeAll(async () => {
    worker = await startTestWorker();
    kafka = createKafka(worker.config.KAFKA_BROKERS, createLogger('error'), 'outbound-events-test');
    small = `${topicPrefixOf(worker.env)}small-limit`;
    await createTopic(kafka, small, 64 * 1024);
  });

  afterAll(async () => {
    await worker?.stop();
  });

  const outboxRowOf = (e: DomainEvent) => worker.knex('outbox').whereRaw(`payload->>'id' = ?`, [e.id]).first();

  it('parks an event too large for its topic and one for an invalid topic; the others go out, each key in order', async () => {
    const before = await parkedMetrics(worker, 'event');
    const events = worker.config.EVENTS_TOPIC;
    const e1 = event('k', { n: 1 });
    const tooLarge = event('k', { n: 2, blob: noise(300 * 1024) });
    const e3 = event('k', { n: 3 });
    const f1 = event('k2', { n: 1 });
    const f2 = event('k2', { n: 2 });
    const invalid = event('k3', { n: 1 });
    const g2 = event('k3', { n: 2 });
    // One statement, so the relay reads them as one batch: the first request fails as a whole.
    await insertOutboxRows(worker.knex, [
      outboxRow(small, e1),
      outboxRow(events, f1),
      outboxRow(small, tooLarge),
      outboxRow('not a valid topic!', invalid),
      outboxRow(events, f2),
      outboxRow(small, e3),
      outboxRow(events, g2),
    ]);

    const onSmall = await readTopic(kafka, worker.env, small, (m) => idsOf(m).includes(e3.id));
    expect(idsOf(onSmall)).toEqual([e1.id, e3.id]);
    const onEvents = await readTopic(kafka, worker.env, events, (m) => [f2.id, g2.id].every((id) => idsOf(m).includes(id)));
    // Its partitions are read side by side: order holds within each key (a partition), not across them.
    expect(idsOf(onEvents).filter((id) => [f1.id, f2.id].includes(id))).toEqual([f1.id, f2.id]);
    expect(idsOf(onEvents).filter((id) => id === g2.id)).toEqual([g2.id]);

    const parkedLarge = await outboxRowOf(tooLarge);
    expect(parkedLarge.published_at).toBeNull();
    expect(parkedLarge.parked_at).not.toBeNull();
    expect(parkedLarge.last_error).toMatch(/^MESSAGE_TOO_LARGE: /);
    const parkedInvalid = await outboxRowOf(invalid);
    expect(parkedInvalid.parked_at).not.toBeNull();
    expect(parkedInvalid.last_error).toMatch(/^INVALID_TOPIC_EXCEPTION: /);
    for (const e of [e1, e3, f1, f2, g2]) expect((await outboxRowOf(e)).published_at).not.toBeNull();
    const after = await parkedMetrics(worker, 'event');
    expect(after.total).toBeGreaterThanOrEqual(before.total + 2); // the run's database is shared with earlier files
    expect(after.now).toBeGreaterThanOrEqual(2);

    // Parked rows stay behind: a later event of the same key on the same topic goes out at once.
    const e4 = event('k', { n: 4 });
    await insertOutboxRows(worker.knex, [outboxRow(small, e4)]);
    expect(idsOf(await readTopic(kafka, worker.env, small, (m) => idsOf(m).includes(e4.id)))).toEqual([e1.id, e3.id, e4.id]);
    expect((await outboxRowOf(tooLarge)).published_at).toBeNull();
  });

  it('delivers an event of several MiB (compressed, on the events topic the worker created), then 120 events of 40 KiB in order', async () => {
    const large = event('big', { blob: noise(4 * 1024 * 1024) });
    const many = Array.from({ length: 120 }, (_, i) => event('many', { i, blob: noise(40 * 1024) }));
    await insertOutboxRows(worker.knex, [outboxRow(worker.config.EVENTS_TOPIC, large), ...many.map((e) => outboxRow(worker.config.EVENTS_TOPIC, e))]);
    const wanted = new Set([large.id, ...many.map((e) => e.id)]);
    const read = await readTopic(kafka, worker.env, worker.config.EVENTS_TOPIC, (m) => idsOf(m).filter((id) => wanted.has(id)).length === wanted.size, 60_000);
    const delivered = read.map((m) => JSON.parse(m.value!.toString('utf8')) as DomainEvent).filter((e) => wanted.has(e.id));
    expect(delivered.find((e) => e.id === large.id)).toEqual(large);
    expect(delivered.filter((e) => e.id !== large.id).map((e) => e.id)).toEqual(many.map((e) => e.id)); // one key: in order
    await eventually('all of them marked published', async () => {
      const rows = await worker.knex('outbox').whereRaw(`payload->>'id' = any(?)`, [[...wanted]]).whereNull('published_at').count({ n: '*' });
      return Number(rows[0]!.n) === 0 ? true : undefined;
    });
  });
});
