import { randomBytes, randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProxyTracerProvider, trace } from '@opentelemetry/api';
import { Kafka } from 'kafkajs';
import { startTracing } from '../../../src/telemetry/start.js';
import { sign } from '../../../src/pipeline/signature.js';
import { createKafka } from '../../../src/transport/kafka.js';
import { createLogger } from '../../../src/logger.js';
import { eventually, startTestWorker, type TestWorker } from '../harness.js';
import { testKeys } from '../env.js';
import { TopicReader } from './topic-reader.js';

// Tracing off (no OTEL_* variable): no SDK, nothing patched, and a command's traceparent still reaches its reply
// and its event unchanged, so a caller's trace stays connected through a worker that exports nothing.

let worker: TestWorker;
let reader: TopicReader;
beforeAll(async () => {
  const tracing = await startTracing({ env: {} });
  expect(tracing.settings).toEqual({ enabled: false, reason: 'no OTEL_TRACES_EXPORTER or OTLP endpoint set' });
  worker = await startTestWorker();
  reader = new TopicReader(worker.config.KAFKA_BROKERS);
  await reader.start([worker.client.replyTopic, worker.config.EVENTS_TOPIC]);
});
afterAll(async () => {
  await reader?.stop();
  await worker?.stop();
});

async function sendWithHeaders(envelope: Record<string, unknown>, headers: Record<string, string>, secret = testKeys.system.secret): Promise<void> {
  const producer = createKafka(worker.config.KAFKA_BROKERS, createLogger('error'), 'trace-off-test').producer();
  await producer.connect();
  try {
    const value = Buffer.from(JSON.stringify(envelope));
    await producer.send({
      topic: worker.config.COMMANDS_TOPIC,
      messages: [{ key: String(envelope.id), value, headers: { 'x-key-id': testKeys.system.keyId, 'x-signature': sign(value, secret), ...headers } }],
    });
  } finally {
    await producer.disconnect();
  }
}

describe('traces off', () => {
  it('starts no SDK and patches nothing', () => {
    const provider = trace.getTracerProvider();
    expect(provider).toBeInstanceOf(ProxyTracerProvider);
    expect((provider as ProxyTracerProvider).getDelegate().constructor.name).toBe('NoopTracerProvider');
    expect((Kafka.prototype.producer as { __wrapped?: boolean }).__wrapped).toBeUndefined();
  });

  it('passes a command traceparent on to its reply and its event unchanged', async () => {
    const traceparent = `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`;
    const envelope = worker.client.envelope({ type: 'organisation.upsert', actor: { type: 'system', id: 'trace-test' }, payload: { id: randomInt(1e6, 2e9), name: 'Untraced', experimentationEnabled: true } });
    const reply = worker.client.waitForReply(envelope.id);
    await sendWithHeaders(envelope, { traceparent, tracestate: 'vendor=1' });
    expect((await reply).status).toBe(200);
    const replyMessage = await eventually('the reply message', () => reader.find(worker.client.replyTopic, 'commandId', envelope.id));
    const eventMessage = await eventually('the event message', () => reader.find(worker.config.EVENTS_TOPIC, 'commandId', envelope.id));
    expect(replyMessage.headers.traceparent).toBe(traceparent);
    expect(eventMessage.headers.traceparent).toBe(traceparent);
  });

  it('passes it on to an early rejection, and sends none for a message without one or with an invalid one', async () => {
    const traceparent = `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-00`;
    const forged = worker.client.envelope({ type: 'organisation.upsert', payload: { id: 1, name: 'x', experimentationEnabled: true } });
    const rejected = worker.client.waitForReply(forged.id);
    await sendWithHeaders(forged, { traceparent }, 'not-the-secret');
    expect((await rejected).status).toBe(401);
    const invalid = worker.client.envelope({ type: 'organisation.upsert', payload: { id: randomInt(1e6, 2e9), name: 'y', experimentationEnabled: true } });
    const answered = worker.client.waitForReply(invalid.id);
    await sendWithHeaders(invalid, { traceparent: '00-00000000000000000000000000000000-0000000000000000-01' });
    expect((await answered).status).toBe(200);
    const rejection = await eventually('the rejection', () => reader.find(worker.client.replyTopic, 'commandId', forged.id));
    const untraced = await eventually('the reply to the untraced command', () => reader.find(worker.client.replyTopic, 'commandId', invalid.id));
    expect(rejection.headers.traceparent).toBe(traceparent);
    expect(untraced.headers.traceparent).toBeUndefined();
  });
});
