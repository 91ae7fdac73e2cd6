import { randomUUID } from 'node:crypto';
import type { Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, messageCount, setupTenant, startTestWorker, systemActor, type Tenant, type TestWorker } from '../harness.js';
import { TRACKING_REJECTION_LABELS } from '../../../src/contracts/tracking.js';
import { handlers } from '../../../src/handlers/registry.js';
import { DLQ_REASONS, PARKED_KINDS, RESULTS_OUTCOMES } from '../../../src/metrics.js';
import { collectTopic, trackingProducer, waitForStored, type CollectedMessage } from '../results/helpers.js';

// Hostile bytes sent raw to the tracking topic: each rejected to the tracking DLQ with a clear reason, never a
// crash or a stuck partition. Every test sends good events around the hostile ones (same key, so the same
// partition and in order) and checks that exactly those were stored, and that the next message still works.

describe('hostile bytes on the tracking topic', () => {
  let worker: TestWorker;
  let producer: Producer;
  let tenant: Tenant;
  let dlq: { messages: CollectedMessage[]; stop(): Promise<void> };
  /** Identifiers stored so far, in this test file's environment. */
  const stored: string[] = [];

  beforeAll(async () => {
    worker = await startTestWorker();
    producer = await trackingProducer(worker.config);
    tenant = await setupTenant(worker.client);
    dlq = await collectTopic(worker.config, worker.config.TRACKING_DLQ_TOPIC);
  });

  afterAll(async () => {
    await dlq?.stop();
    await producer?.disconnect();
    await worker?.stop();
  });

  const event = (identifier: string, extra: Record<string, unknown> = {}) => ({
    environment: tenant.environment,
    event: 'purchase',
    identifier,
    value: 1,
    timestamp: new Date().toISOString(),
    ...extra,
  });
  const good = (identifier: string) => Buffer.from(JSON.stringify(event(identifier)));
  /** Sends each value in a send of its own (large ones would not fit one request), all on one partition. */
  const sendAll = async (values: Buffer[]) => {
    for (const value of values) await producer.send({ topic: worker.config.TRACKING_TOPIC, acks: -1, messages: [{ key: tenant.environment, value }] });
  };
  /** Waits for `count` more rejects and answers them. */
  const nextRejects = async (from: number, count: number) => {
    await eventually(`${count} rejects in the tracking DLQ`, async () => (dlq.messages.length >= from + count ? true : undefined), 30_000);
    return dlq.messages.slice(from, from + count);
  };
  /** Waits until exactly `identifiers` more events are stored, and checks that they are those. */
  const expectStored = async (...identifiers: string[]) => {
    stored.push(...identifiers);
    await waitForStored(worker.knex, tenant.environment, stored.length);
    const all = await worker.knex('tracking_events as t').join('environments as e', 'e.id', 't.environment_id').where('e.key', tenant.environment).pluck('t.identifier');
    expect(all.sort()).toEqual([...stored].sort());
  };

  it('rejects NUL bytes, deep nesting, non-UTF-8 bytes and huge strings with a clear reason each', async () => {
    const text = JSON.stringify(event('hostile'));
    const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
    const hostile: [Buffer, string][] = [
      [Buffer.concat([Buffer.from(text.slice(0, 30)), Buffer.from([0]), Buffer.from(text.slice(30))]), 'not JSON: contains a NUL byte'],
      [Buffer.from(JSON.stringify(event('nul\u0000inside'))), 'invalid tracking event: identifier: must not contain NUL characters'],
      [Buffer.from(deep(100_000)), 'invalid tracking event: message: Invalid data. Expected a dictionary, but got list.'],
      [Buffer.from(`${text.slice(0, -1)},"value":${deep(100_000)}}`), 'invalid tracking event: value: must be a text of at most 1000 characters or a number'],
      [Buffer.from('{"a":'.repeat(50_000) + '1' + '}'.repeat(50_000)), 'invalid tracking event: environment: This field is required.'],
      [Buffer.concat([Buffer.from(text.slice(0, 30)), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from(text.slice(30))]), 'not UTF-8'],
      [Buffer.from(JSON.stringify(event('x'.repeat(500_000)))), 'invalid tracking event: identifier: Ensure this field has no more than 1000 characters.'],
      [Buffer.from(JSON.stringify(event('u', { feature: 'f'.repeat(300_000) }))), 'invalid tracking event: feature: Ensure this field has no more than 2000 characters.'],
    ];
    await sendAll([good('before'), ...hostile.map(([value]) => value), good('after')]);
    const rejects = await nextRejects(0, hostile.length);
    expect(rejects.map((m) => m.headers['x-dlq-reason'])).toEqual(hostile.map(([, reason]) => reason));
    rejects.forEach((m, i) => {
      expect(m.value!.equals(hostile[i]![0])).toBe(true);
      expect(m.headers['x-original-topic']).toBe(worker.config.TRACKING_TOPIC);
    });
    await expectStored('before', 'after');
    expect(await messageCount(worker.config, worker.config.DLQ_TOPIC)).toBe(0);

    await sendAll([good('next')]);
    await expectStored('next');
  });

  it('copies a reject near the broker\'s message limit whole to the tracking DLQ, and goes on', async () => {
    const from = dlq.messages.length;
    // Just under the tracking topic's 1 MiB message limit: with our DLQ headers the copy is over it, and the DLQ
    // topic (created with max.message.bytes 16 MiB) still takes it.
    const filler = 1_048_400 - JSON.stringify(event('')).length;
    const huge = Buffer.from(JSON.stringify(event('h'.repeat(filler))));
    await sendAll([good('before-huge'), huge, good('after-huge')]);
    const [reject] = await nextRejects(from, 1);
    expect(reject!.value?.length).toBe(huge.length);
    expect(reject!.headers).toMatchObject({
      'x-dlq-reason': 'invalid tracking event: identifier: Ensure this field has no more than 1000 characters.',
      'x-original-topic': worker.config.TRACKING_TOPIC,
    });
    await expectStored('before-huge', 'after-huge');
  });

  it('gets a flood of rejects out in sends the broker accepts (one batch of 5000 would be refused as too large)', async () => {
    const from = dlq.messages.length;
    const junk = Array.from({ length: 5000 }, (_, i) => Buffer.from(`junk ${i} ${'.'.repeat(240)}`));
    for (let i = 0; i < junk.length; i += 2500) {
      await producer.send({ topic: worker.config.TRACKING_TOPIC, acks: -1, messages: junk.slice(i, i + 2500).map((value) => ({ key: tenant.environment, value })) });
    }
    await sendAll([good('after-flood')]);
    const rejects = await nextRejects(from, junk.length);
    expect(rejects.every((m, i) => m.value!.equals(junk[i]!) && m.headers['x-dlq-reason'] === 'not JSON')).toBe(true);
    await expectStored('after-flood');
  });

  it('/metrics takes label values from fixed lists only: hostile commands and tracking events add no series', async () => {
    const marker = `evil${randomUUID().replaceAll('-', '')}`;
    const unsigned = async (type: string) => {
      const id = randomUUID();
      const reply = worker.client.waitForReply(id);
      const envelope = { id, type, actor: systemActor, payload: {}, replyTo: worker.client.replyTopic, sentAt: new Date().toISOString() };
      await worker.client.sendRaw(Buffer.from(JSON.stringify(envelope)), { signature: null, keyId: null });
      return reply;
    };
    expect((await unsigned(`${marker}.first`)).status).toBe(401);
    expect((await worker.client.send({ type: `${marker}.signed`, actor: systemActor })).status).toBe(400);
    const before = await metricsSeries();

    for (let i = 0; i < 10; i++) expect((await unsigned(`${marker}.${i}`)).status).toBe(401);
    expect((await worker.client.send({ type: `${marker}.signed-again`, actor: systemActor })).status).toBe(400);
    const from = dlq.messages.length;
    await sendAll([
      Buffer.from(JSON.stringify(event(marker, { environment: `${marker}-environment` }))),
      Buffer.from(JSON.stringify(event(marker, { value: marker.repeat(100) }))),
      Buffer.from(`${marker} not json`),
    ]);
    expect((await nextRejects(from, 3)).map((m) => m.headers['x-dlq-reason'])).toEqual([
      `unknown environment "${marker}-environment"`,
      'invalid tracking event: value: Ensure this field has no more than 1000 characters.',
      'not JSON',
    ]);
    const after = await metricsSeries();
    expect([...after.keys()].filter((series) => !before.has(series))).toEqual([]);
    for (const [series, labels] of after) {
      expect(series).not.toContain(marker);
      const [name] = series.split('{');
      if (name === 'expw_commands_total') {
        expect(['unknown', ...handlers.keys()], series).toContain(labels.type);
        expect(labels.status, series).toMatch(/^[1-5]\d\d$/);
      } else if (name === 'expw_dlq_messages_total') {
        expect(DLQ_REASONS[labels.source as keyof typeof DLQ_REASONS] as readonly string[], series).toContain(labels.reason);
      } else if (name === 'expw_tracking_rejected_total') {
        expect(TRACKING_REJECTION_LABELS, series).toContain(labels.reason);
      } else if (name!.startsWith('expw_results_compute_seconds')) {
        expect(RESULTS_OUTCOMES, series).toContain(labels.outcome);
      } else if (name === 'expw_messages_parked_total' || name === 'expw_parked_messages') {
        expect(PARKED_KINDS, series).toContain(labels.kind);
      } else if (Object.keys(labels).some((label) => label !== 'le')) {
        // The only other labels are the runtime's own (Node.js and process metrics), and histogram buckets.
        expect(name, series).toMatch(/^expw_(nodejs|process)_/);
      }
    }
  });

  /** The labelled series of /metrics, each with its labels. */
  async function metricsSeries(): Promise<Map<string, Record<string, string>>> {
    const text = await (await fetch(`http://127.0.0.1:${worker.app.httpPort}/metrics`)).text();
    const series = new Map<string, Record<string, string>>();
    for (const line of text.split('\n')) {
      const match = /^(\w+)\{(.*)\} /.exec(line);
      if (!match) continue;
      const labels = Object.fromEntries([...match[2]!.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1]!, m[2]!]));
      series.set(`${match[1]}{${match[2]}}`, labels);
    }
    return series;
  }
});
