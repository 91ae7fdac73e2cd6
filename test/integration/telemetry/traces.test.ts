import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT_CONTEXT, SpanKind, context, trace } from '@opentelemetry/api';
import { suppressTracing } from '@opentelemetry/core';
import type { Producer } from 'kafkajs';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { startTracing, type Tracing } from '../../../src/telemetry/start.js';
import { parseTraceparent } from '../../../src/contracts/trace-context.js';
import type { TestWorker } from '../harness.js';
import type { TopicReader } from './topic-reader.js';

// One trace from a command's send to its reply and its event, with the SDK started in this test process as
// main.ts starts it, exporting to memory. The harness, and with it kafkajs, pg and ioredis, is imported only once
// tracing has started, so that the instrumentations patch them as they load.

const exporter = new InMemorySpanExporter();
let tracing: Tracing;
let harness: typeof import('../harness.js');
let worker: TestWorker;
let reader: TopicReader;
let producer: Producer;

beforeAll(async () => {
  tracing = await startTracing({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  harness = await import('../harness.js');
  const { TopicReader } = await import('./topic-reader.js');
  worker = await harness.startTestWorker();
  reader = new TopicReader(worker.config.KAFKA_BROKERS);
  await reader.start([worker.client.replyTopic, worker.config.EVENTS_TOPIC, worker.config.DLQ_TOPIC]);
  const { createKafka } = await import('../../../src/transport/kafka.js');
  const { createLogger } = await import('../../../src/logger.js');
  producer = createKafka(worker.config.KAFKA_BROKERS, createLogger('error'), 'trace-test-producer').producer();
  await producer.connect();
});
afterAll(async () => {
  await producer?.disconnect();
  await reader?.stop();
  await worker?.stop();
  await tracing?.shutdown();
});

const spansOf = (traceId: string) => exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;

describe('traces', () => {
  it('follows a command from its send to its reply and its event in one trace', async () => {
    // The caller's span: the client's send runs in it, so the kafkajs instrumentation makes a send span under it
    // and puts that span's traceparent on the command message.
    const caller = { traceId: randomBytes(16).toString('hex'), spanId: randomBytes(8).toString('hex'), traceFlags: 1, isRemote: true };
    const id = randomUUID();
    const reply = await context.with(trace.setSpanContext(ROOT_CONTEXT, caller), () =>
      worker.client.send({ id, type: 'organisation.upsert', payload: { id: randomInt(1e6, 2e9), name: 'Traced', experimentationEnabled: true } }),
    );
    expect(reply.status).toBe(200);

    const sent = await harness.eventually('the send span of the command', () =>
      spansOf(caller.traceId).find((s) => s.name === `send ${worker.config.COMMANDS_TOPIC}` && s.kind === SpanKind.PRODUCER),
    );
    expect(parentOf(sent)).toBe(caller.spanId);
    const command = await harness.eventually('the command span', () => spansOf(caller.traceId).find((s) => s.name === 'command organisation.upsert'));
    expect(parentOf(command)).toBe(sent.spanContext().spanId);
    expect(command.kind).toBe(SpanKind.CONSUMER);
    expect(command.attributes).toMatchObject({ 'command.id': id, 'command.type': 'organisation.upsert', 'command.status': 200 });
    expect(typeof command.attributes['command.key']).toBe('string');
    // A redelivered command is answered again from the inbox, in a span of its own under the same send span.
    const commandSpans = () => new Set(spansOf(caller.traceId).filter((s) => s.name === command.name).map((s) => s.spanContext().spanId));

    // The command's own Postgres work (its handler's statements) is in its trace; the group's authorisation and
    // record statements and COMMIT are shared, so they are in no command's trace. (A command that succeeds has no
    // savepoint of its own: command-group.ts runs a group with savepoints only after a failure needing one.)
    const queries = spansOf(caller.traceId).filter((s) => s.name.startsWith('pg.query'));
    const statements = queries.map((s) => String(s.attributes['db.query.text'] ?? s.attributes['db.statement'] ?? ''));
    expect(statements.some((q) => q.includes('organisations'))).toBe(true);
    expect(statements.some((q) => q.includes('expw_record_commands') || q.includes('insert into audit_log'))).toBe(false);

    // The reply and the event are published in spans of the same trace, children of the command span, and the
    // Kafka messages carry those spans' traceparent. (Both are at least once: a message sent twice has two spans.)
    const replyMessage = await harness.eventually('the reply message', () => reader.find(worker.client.replyTopic, 'commandId', id));
    const eventMessage = await harness.eventually('the event message', () => reader.find(worker.config.EVENTS_TOPIC, 'commandId', id));
    for (const [topic, message] of [[worker.client.replyTopic, replyMessage], [worker.config.EVENTS_TOPIC, eventMessage]] as const) {
      const header = parseTraceparent(message.headers.traceparent);
      expect(header?.traceId, topic).toBe(caller.traceId);
      const publish = await harness.eventually(`the span that published to ${topic}`, () =>
        spansOf(caller.traceId).find((s) => s.name === `publish ${topic}` && s.spanContext().spanId === header!.spanId),
      );
      expect(publish.kind).toBe(SpanKind.PRODUCER);
      expect(commandSpans().has(parentOf(publish)!), `the parent of publish ${topic}`).toBe(true);
    }
    // The auto-instrumentation adds no send spans of its own to the relay's and reply publisher's requests.
    expect(spansOf(caller.traceId).filter((s) => s.name === `send ${worker.config.EVENTS_TOPIC}` || s.name === `send ${worker.client.replyTopic}`)).toEqual([]);
  });

  it('keeps each command of a group commit in its own trace', async () => {
    // Several commands of different traces, on one key, in one produce request: one fetch, one stretch, one group
    // (one transaction, checked by the rows' xmin). The kafkajs instrumentation is kept out of the send so that
    // each message keeps the traceparent the test gave it.
    const { sign } = await import('../../../src/pipeline/signature.js');
    const { testKeys } = await import('../env.js');
    const key = `trace-group-${randomUUID()}`;
    const commands = Array.from({ length: 4 }, () => {
      const parent = { traceId: randomBytes(16).toString('hex'), spanId: randomBytes(8).toString('hex') };
      const envelope = worker.client.envelope({ type: 'organisation.upsert', payload: { id: randomInt(1e6, 2e9), name: 'Traced group', experimentationEnabled: true } });
      return { parent, envelope, value: Buffer.from(JSON.stringify(envelope)) };
    });
    const replies = commands.map((c) => worker.client.waitForReply(c.envelope.id));
    await context.with(suppressTracing(ROOT_CONTEXT), () =>
      producer.send({
        topic: worker.config.COMMANDS_TOPIC,
        acks: -1,
        messages: commands.map((c) => ({
          key,
          value: c.value,
          headers: { 'x-key-id': testKeys.system.keyId, 'x-signature': sign(c.value, testKeys.system.secret), traceparent: `00-${c.parent.traceId}-${c.parent.spanId}-01` },
        })),
      }),
    );
    for (const reply of await Promise.all(replies)) expect(reply.status).toBe(200);
    const ids = commands.map((c) => c.envelope.id);
    const xmins = await worker.knex('processed_commands').whereIn('command_id', ids).select(worker.knex.raw('xmin::text as xmin'));
    expect(new Set(xmins.map((r: { xmin: string }) => r.xmin)).size, 'one transaction for the group').toBe(1);

    for (const { parent, envelope } of commands) {
      const spans = await harness.eventually(`the command span of ${envelope.id}`, () => {
        const found = spansOf(parent.traceId).filter((s) => s.name === 'command organisation.upsert');
        return found.length ? found : undefined;
      });
      for (const span of spans) {
        expect(parentOf(span)).toBe(parent.spanId);
        expect(span.attributes['command.id']).toBe(envelope.id);
      }
      const commandSpanIds = new Set(spans.map((s) => s.spanContext().spanId));
      // Its own reply and event, each published in a child of its own command span.
      const replyMessage = await harness.eventually('the reply message', () => reader.find(worker.client.replyTopic, 'commandId', envelope.id));
      const eventMessage = await harness.eventually('the event message', () => reader.find(worker.config.EVENTS_TOPIC, 'commandId', envelope.id));
      for (const [topic, message] of [[worker.client.replyTopic, replyMessage], [worker.config.EVENTS_TOPIC, eventMessage]] as const) {
        const header = parseTraceparent(message.headers.traceparent);
        expect(header?.traceId, `${topic} of ${envelope.id}`).toBe(parent.traceId);
        const publish = await harness.eventually(`the span that published to ${topic}`, () =>
          spansOf(parent.traceId).find((s) => s.name === `publish ${topic}` && s.spanContext().spanId === header!.spanId),
        );
        expect(commandSpanIds.has(parentOf(publish)!), `the parent of publish ${topic}`).toBe(true);
      }
    }
    // The group's shared record statement and COMMIT are in none of the commands' traces.
    for (const { parent } of commands) {
      const statements = spansOf(parent.traceId).map((s) => String(s.attributes['db.query.text'] ?? s.attributes['db.statement'] ?? ''));
      expect(statements.some((q) => q.includes('insert into reply_deliveries') || /^COMMIT/i.test(q))).toBe(false);
    }
  });

  it('keeps the traceparent a dead-lettered message came with', async () => {
    const caller = { traceId: randomBytes(16).toString('hex'), spanId: randomBytes(8).toString('hex'), traceFlags: 1, isRemote: true };
    const marker = randomUUID();
    await context.with(trace.setSpanContext(ROOT_CONTEXT, caller), () => worker.client.sendRaw(Buffer.from(`not json ${marker}`)));
    const sent = await harness.eventually('the send span', () => spansOf(caller.traceId).find((s) => s.name === `send ${worker.config.COMMANDS_TOPIC}`));
    const copy = await harness.eventually('the DLQ copy', () => reader.messages.find((m) => m.topic === worker.config.DLQ_TOPIC && m.value.includes(marker)));
    expect(parseTraceparent(copy.headers.traceparent)).toMatchObject({ traceId: caller.traceId, spanId: sent.spanContext().spanId });
  });

  it('records BullMQ and Redis spans through the instrumentations', async () => {
    const names = exporter.getFinishedSpans().map((s) => `${s.instrumentationScope.name}: ${s.name}`);
    expect(names.some((n) => n.startsWith('@opentelemetry/instrumentation-ioredis'))).toBe(true);
    expect(names.some((n) => n.startsWith('experimentation-worker: ') && /replies/.test(n))).toBe(true);
  });
});
