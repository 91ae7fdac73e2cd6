import type { Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, setupTenant, startTestWorker, type Tenant, type TestWorker } from '../harness.js';
import { testDatabaseUrl } from '../env.js';
import { TcpProxy, viaProxy } from '../tcp-proxy.js';
import { createKnex } from '../../../src/db.js';
import { produceTracking, trackingProducer, waitForStored, type TrackingInput } from './helpers.js';

// The tracking consumer with Postgres gone for a while: it must not skip, stall for good or double-count.
const proxy = new TcpProxy('127.0.0.1', 5432);
const direct = createKnex(testDatabaseUrl, 2);
let worker: TestWorker;
let producer: Producer;
let tenant: Tenant;

beforeAll(async () => {
  const port = await proxy.start();
  worker = await startTestWorker({ DATABASE_URL: viaProxy(testDatabaseUrl, port) });
  producer = await trackingProducer(worker.config);
  tenant = await setupTenant(worker.client);
});
afterAll(async () => {
  await producer?.disconnect();
  await worker?.stop();
  await proxy.stop();
  await direct.destroy();
});

const events = (from: number, count: number): TrackingInput[] =>
  Array.from({ length: count }, (_, i) => ({ event: 'purchase', identifier: `user-${from + i}`, value: from + i, at: new Date() }));

async function storedCount(): Promise<number> {
  const row = await direct('tracking_events as t').join('environments as e', 'e.id', 't.environment_id').where('e.key', tenant.environment).count({ n: '*' }).first();
  return Number(row?.n ?? 0);
}

describe('tracking ingestion while Postgres is unavailable', () => {
  it('holds the events back during the outage and stores each exactly once after it', async () => {
    await produceTracking(producer, worker.config.TRACKING_TOPIC, tenant.environment, events(0, 100));
    await waitForStored(direct, tenant.environment, 100);

    const retries = async () => (await worker.app.metrics.trackingRetries.get()).values[0]?.value ?? 0;
    const retriedBefore = await retries();
    proxy.cut();
    await produceTracking(producer, worker.config.TRACKING_TOPIC, tenant.environment, events(100, 200));
    // The consumer has the new events and has met the outage: storing them was retried.
    await eventually('a tracking batch retried during the outage', async () => (await retries()) > retriedBefore, 30_000);
    expect(await storedCount()).toBe(100);
    proxy.restore();

    await waitForStored(direct, tenant.environment, 300, 60_000);
    const distinct = await direct('tracking_events as t')
      .join('environments as e', 'e.id', 't.environment_id')
      .where('e.key', tenant.environment)
      .countDistinct({ n: 't.identifier' })
      .first();
    expect(Number(distinct?.n)).toBe(300);
  });
});
