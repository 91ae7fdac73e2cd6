import { randomUUID } from 'node:crypto';
import type { Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { messageCount, setupTenant, startTestWorker, type Tenant, type TestWorker } from '../harness.js';
import { createLogger } from '../../../src/logger.js';
import { PartitionManager, dayStart, partitionName, type TrackingRow } from '../../../src/results/tracking-store.js';
import { insertTrackingBatch } from '../../../src/results/tracking-ingest.js';
import { Queue, type ConnectionOptions } from 'bullmq';
import { computeEnqueuer } from '../../../src/jobs/results-worker.js';
import { enqueueScheduledComputes } from '../../../src/results/schedule.js';
import { runTrackingMaintenance } from '../../../src/results/tracking-maintenance.js';
import { createRedis } from '../../../src/jobs/queues.js';
import { commandSender } from './helpers.js';
import { testResourceName } from '../env.js';
import { collectTopic, produceTracking, trackingProducer, waitForStored, type CollectedMessage } from './helpers.js';

// The tracking consumer: valid events stored, invalid ones to the DLQ with their reason; the store's
// exactly-once bookkeeping and retention, against the real database.

describe('tracking ingestion', () => {
  let worker: TestWorker;
  let producer: Producer;
  let tenant: Tenant;
  let dlq: CollectedMessage[];
  const collectors: Array<{ stop(): Promise<void> }> = [];

  beforeAll(async () => {
    worker = await startTestWorker();
    producer = await trackingProducer(worker.config);
    tenant = await setupTenant(worker.client);
    // Tracking rejects go to their own DLQ; the commands DLQ holds only messages of the commands topic.
    const tracking = await collectTopic(worker.config, worker.config.TRACKING_DLQ_TOPIC);
    collectors.push(tracking);
    dlq = tracking.messages;
  });

  afterAll(async () => {
    for (const c of collectors) await c.stop();
    await producer?.disconnect();
    await worker?.stop();
  });

  it('stores valid events and sends invalid ones to the DLQ with the reason', async () => {
    const now = Date.now();
    const at = (offset: number) => new Date(now + offset).toISOString();
    const good = (identifier: string) => JSON.stringify({ environment: tenant.environment, event: 'purchase', identifier, value: 3, timestamp: at(0) });
    const bad: { value: string; reason: string | RegExp }[] = [
      { value: '{"environment": ', reason: 'not JSON' },
      { value: JSON.stringify({ environment: tenant.environment, event: 'purchase', timestamp: at(0) }), reason: /^invalid tracking event: identifier: / },
      { value: JSON.stringify({ environment: tenant.environment, event: 'purchase', identifier: 'u', value: { a: 1 }, timestamp: at(0) }), reason: /^invalid tracking event: value: / },
      { value: JSON.stringify({ environment: 'env-that-does-not-exist', event: 'purchase', identifier: 'u', timestamp: at(0) }), reason: 'unknown environment "env-that-does-not-exist"' },
      { value: JSON.stringify({ environment: tenant.environment, event: 'purchase', identifier: 'u', timestamp: at(-400 * 86_400_000) }), reason: 'timestamp older than the 180-day retention' },
      { value: JSON.stringify({ environment: tenant.environment, event: 'purchase', identifier: 'u', timestamp: at(3 * 86_400_000) }), reason: 'timestamp more than a day in the future' },
    ];
    const messages = [good('a'), ...bad.map((b) => b.value), good('b')];
    await producer.send({ topic: worker.config.TRACKING_TOPIC, acks: -1, messages: messages.map((value) => ({ key: tenant.environment, value })) });

    await waitForStored(worker.knex, tenant.environment, 2);
    const deadline = Date.now() + 20_000;
    while (dlq.length < bad.length && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(dlq).toHaveLength(bad.length);
    bad.forEach((b, i) => {
      const message = dlq[i]!;
      expect(message.value?.toString('utf8')).toBe(b.value);
      expect(message.headers['x-dlq-source']).toBe('tracking');
      expect(message.headers['x-original-topic']).toBe(worker.config.TRACKING_TOPIC);
      if (typeof b.reason === 'string') expect(message.headers['x-dlq-reason']).toBe(b.reason);
      else expect(message.headers['x-dlq-reason']).toMatch(b.reason);
    });
    expect(await messageCount(worker.config, worker.config.DLQ_TOPIC)).toBe(0);
    const rejected = await worker.app.metrics.trackingRejected.get();
    expect(rejected.values.reduce((sum, v) => sum + v.value, 0)).toBe(bad.length);
    expect((await worker.app.metrics.trackingAccepted.get()).values[0]!.value).toBeGreaterThanOrEqual(2);
  });

  it('stores exposure fields as sent', async () => {
    const at = new Date();
    await produceTracking(producer, worker.config.TRACKING_TOPIC, tenant.environment, [
      { event: '$flag_exposure', identifier: 'exposed-1', feature: 'checkout_button', value: 'variant_a', at },
    ]);
    await waitForStored(worker.knex, tenant.environment, 3);
    const row = await worker.knex('tracking_events as t')
      .join('environments as e', 'e.id', 't.environment_id')
      .where({ 'e.key': tenant.environment, 't.identifier': 'exposed-1', 't.event': '$flag_exposure' })
      .first('t.*');
    expect(row).toMatchObject({ feature: 'checkout_button', value_text: 'variant_a', value_num: null });
    expect(row.occurred_at.toISOString()).toBe(at.toISOString());
  });
});

describe('tracking store', () => {
  let worker: TestWorker;
  beforeAll(async () => {
    worker = await startTestWorker();
  });
  afterAll(async () => {
    await worker?.stop();
  });

  it('writes a redelivered batch once (offsets are kept with the rows)', async () => {
    const tenant = await setupTenant(worker.client);
    const environmentId = Number((await worker.knex('environments').where('key', tenant.environment).first('id')).id);
    const source = { group: `g-${randomUUID()}`, topic: 'tracking-redelivery', partition: 0 };
    const occurredAt = new Date();
    await new PartitionManager(worker.knex).ensure([dayStart(occurredAt)]);
    const rows: TrackingRow[] = [0, 1, 2].map((i) => ({ environmentId, event: 'e', identifier: `u${i}`, feature: null, valueText: null, valueNum: i, occurredAt }));
    expect(await insertTrackingBatch(worker.knex, source, rows, [10n, 11n, 12n], 12n)).toBe(3);
    // The same batch again (a crash before the Kafka commit), then one overlapping it.
    expect(await insertTrackingBatch(worker.knex, source, rows, [10n, 11n, 12n], 12n)).toBe(0);
    const more = [...rows, { ...rows[0]!, identifier: 'u3' }];
    expect(await insertTrackingBatch(worker.knex, source, more, [10n, 11n, 12n, 13n], 14n)).toBe(1);
    const stored = await worker.knex('tracking_events').where('environment_id', environmentId).orderBy('identifier').pluck('identifier');
    expect(stored).toEqual(['u0', 'u1', 'u2', 'u3']);
    const position = await worker.knex('tracking_consumer_offsets').where({ consumer_group: source.group }).first();
    expect(Number(position.next_offset)).toBe(15);
  });

  it('creates partitions ahead and drops those past retention', async () => {
    const now = new Date();
    const old = dayStart(now.getTime() - 400 * 86_400_000);
    const partitions = new PartitionManager(worker.knex);
    await partitions.ensure([old]);
    expect(await partitions.existing()).toContain(old);
    const { dropped } = await runTrackingMaintenance(
      { knex: worker.knex, config: worker.config, logger: createLogger('silent') },
      partitions,
      now,
    );
    expect(dropped).toContain(partitionName(old));
    const remaining = await partitions.existing();
    expect(remaining).not.toContain(old);
    expect(remaining).toContain(dayStart(now));
    expect(remaining).toContain(dayStart(now.getTime() + 86_400_000));
  });

  it('schedules a compute for running experiments without fresh results, once per experiment', async () => {
    const tenant = await setupTenant(worker.client);
    const send = commandSender(worker.client, tenant.environment, tenant.admin);
    const id = ((await send('experiment.create', { featureId: tenant.featureId, name: 'scheduled', hypothesis: 'h' })).body as { id: number }).id;
    const queue = new Queue('results', { connection: createRedis(worker.config.REDIS_URL, 'queue') as ConnectionOptions, prefix: testResourceName() });
    try {
      const deps = { knex: worker.knex, config: worker.config, logger: createLogger('silent') };
      await enqueueScheduledComputes(deps, computeEnqueuer(queue));
      expect(await queue.getJob(`results-${id}`)).toBeUndefined(); // not started yet
      expect((await send('experiment.start', { id })).status).toBe(200);
      await enqueueScheduledComputes(deps, computeEnqueuer(queue));
      await enqueueScheduledComputes(deps, computeEnqueuer(queue));
      const job = await queue.getJob(`results-${id}`);
      expect(job?.name).toBe('compute');
      expect(job?.data).toEqual({ experimentId: id });
      const waiting = await queue.getJobs(['waiting']);
      expect(waiting.filter((j) => j.id === `results-${id}`)).toHaveLength(1);
    } finally {
      await queue.obliterate({ force: true });
      await queue.close();
    }
  });
});
