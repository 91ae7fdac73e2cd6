import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kafka } from 'kafkajs';
import { setupTenant, startTestWorker, type Tenant, type TestWorker } from '../harness.js';
import { createKafka } from '../../../src/transport/kafka.js';
import { createLogger } from '../../../src/logger.js';
import type { Reply } from '../../../src/contracts/envelope.js';
import { noise, readTopic } from './outbound-helpers.js';

// CONTRACT.md "Limits and hostile input": replies of any size the limits allow are delivered. The largest page the
// contract allows: 999 metrics whose definitions are close to the 16384-byte limit (about 15 MB of JSON), made
// of text gzip cannot shrink much.

const METRICS = 999;
const DEFINITION_NOTES_BYTES = 15_000;

describe('a reply of about 15 MB', () => {
  let worker: TestWorker;
  let kafka: Kafka;
  let tenant: Tenant;

  beforeAll(async () => {
    worker = await startTestWorker();
    kafka = createKafka(worker.config.KAFKA_BROKERS, createLogger('error'), 'outbound-large-test');
    tenant = await setupTenant(worker.client);
  });

  afterAll(async () => {
    await worker?.stop();
  });

  it('metric.list of 999 metrics with definitions near the limit reaches the default replies topic whole; their 999 events go out', async () => {
    const send = (type: string, payload: unknown) => worker.client.send({ type, environment: tenant.environment, actor: tenant.admin, payload }, { timeout: 120_000 });
    const definitions = Array.from({ length: METRICS }, (_, i) => ({ version: 1, event: `event_${i}`, notes: noise(DEFINITION_NOTES_BYTES) }));
    expect(Math.max(...definitions.map((d) => Buffer.byteLength(JSON.stringify(d))))).toBeLessThanOrEqual(16_384);
    const created: Reply[] = [];
    for (let i = 0; i < METRICS; i += 100) {
      const chunk = definitions.slice(i, i + 100).map((definition, j) => send('metric.create', { name: `Metric ${i + j}`, aggregation: 'occurrence', definition }));
      created.push(...(await Promise.all(chunk)));
    }
    expect(created.filter((r) => r.status !== 201)).toEqual([]);

    // No replyTo: the reply goes to REPLIES_TOPIC, which the worker created with room for it.
    const envelope = worker.client.envelope({ type: 'metric.list', environment: tenant.environment, actor: tenant.admin, payload: { pageSize: METRICS } });
    delete (envelope as { replyTo?: string }).replyTo;
    await worker.client.sendRaw(Buffer.from(JSON.stringify(envelope)), { key: tenant.environment });
    const [message] = (await readTopic(kafka, worker.env, worker.config.REPLIES_TOPIC, (m) => m.some((x) => x.key?.toString() === envelope.id), 90_000)).filter(
      (m) => m.key?.toString() === envelope.id,
    );
    expect(message!.value!.length).toBeGreaterThan(METRICS * DEFINITION_NOTES_BYTES);
    const reply = JSON.parse(message!.value!.toString('utf8')) as Reply & { body: { count: number; results: Array<{ name: string; definition: unknown }> } };
    expect(reply).toMatchObject({ commandId: envelope.id, status: 200, body: { count: METRICS, page: 1, pageSize: METRICS } });
    expect(reply.body.results).toHaveLength(METRICS);
    const byName = new Map(reply.body.results.map((m) => [m.name, m.definition]));
    definitions.forEach((definition, i) => expect(byName.get(`Metric ${i}`)).toEqual(definition));

    const createdIds = new Set(created.map((r) => (r.body as { id: number }).id));
    await worker.client.waitForEvent((e) => e.type === 'metric.created' && (e.data as { id: number }).id === Math.max(...createdIds), { timeout: 60_000 });
    const events = worker.client.events.filter((e) => e.type === 'metric.created' && e.environment === tenant.environment);
    expect(new Set(events.map((e) => (e.data as { id: number }).id))).toEqual(createdIds);
  }, 300_000);
});
