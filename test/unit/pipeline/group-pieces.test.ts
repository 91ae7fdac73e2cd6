import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { buildReply, commandRecord, duplicateReply, ID_MESSAGES } from '../../../src/pipeline/execute-command.js';
import { directReplySink, ReplyNotPublished } from '../../../src/pipeline/replies.js';
import { createLogger } from '../../../src/logger.js';
import type { CommandEnvelope } from '../../../src/contracts/envelope.js';
import type { ReplyDelivery } from '../../../src/models/delivery-state.js';

// The pure pieces of group commit and the direct reply path: how a duplicate is answered, what one command's
// record holds, and when replies go straight to Kafka or to the reply queue.

const envelope = (fields: Partial<CommandEnvelope> = {}): CommandEnvelope =>
  ({ id: randomUUID(), type: 'metric.create', environment: 'prod', actor: { type: 'user', id: '42' }, payload: { name: 'm' }, sentAt: new Date().toISOString(), ...fields }) as CommandEnvelope;

describe('duplicateReply', () => {
  const e = envelope({ correlationId: 'c-1' });
  const stored = buildReply(e, 201, { id: 1 }, new Date('2026-01-01T00:00:00Z'));
  const row = { commandId: e.id, type: e.type, status: 201, reply: stored, fingerprint: 'fp', processedAt: new Date('2026-01-01T00:00:00Z') };

  it('answers the same command with the stored reply, pointing at the inbox copy', () => {
    expect(duplicateReply(row, e, 'fp')).toEqual({ reply: stored, stored: true });
    // Rows from before fingerprints match any command.
    expect(duplicateReply({ ...row, fingerprint: null }, e, 'other')).toEqual({ reply: stored, stored: true });
  });

  it('answers another command with the same id 409, never with the stored reply', () => {
    const { reply, stored: isStored } = duplicateReply(row, e, 'other');
    expect(reply).toMatchObject({ commandId: e.id, correlationId: 'c-1', status: 409, body: { detail: ID_MESSAGES.taken } });
    expect(isStored).toBe(false);
  });

  it('answers with the stored status and an "expired" body once the body is gone', () => {
    const { reply, stored: isStored } = duplicateReply({ ...row, reply: null }, e, 'fp');
    expect(reply).toMatchObject({ status: 201, body: { detail: ID_MESSAGES.expired }, processedAt: '2026-01-01T00:00:00.000Z' });
    expect(isStored).toBe(false);
  });
});

describe('commandRecord', () => {
  it('carries the command from its envelope to its audit, outbox, inbox and delivery rows', () => {
    const e = envelope({ replyTo: 'svc.replies' });
    const reply = buildReply(e, 201, { id: 7 });
    const record = commandRecord('events', e, reply, { replyTopic: 'svc.replies', fingerprint: 'fp' }, [{ type: 'metric.created', data: { id: 7 } }], [
      { action: 'create', resourceType: 'metric', resourceId: 7, before: null, after: { id: 7 } },
    ]);
    expect(record).toMatchObject({ commandId: e.id, replyTopic: 'svc.replies', replyStored: true, reply });
    expect(record.audit).toEqual([
      { command_id: e.id, environment_key: 'prod', actor_type: 'user', actor_id: '42', action: 'create', resource_type: 'metric', resource_id: '7', before: null, after: { id: 7 } },
    ]);
    expect(record.outbox).toHaveLength(1);
    expect(record.outbox[0]).toMatchObject({ topic: 'events', message_key: 'prod', headers: { 'event-type': 'metric.created' }, payload: { type: 'metric.created', commandId: e.id, environment: 'prod', occurredAt: reply.processedAt } });
    expect(record.inbox).toEqual({ command_id: e.id, type: 'metric.create', environment_key: 'prod', status: 201, reply, reply_to: 'svc.replies', fingerprint: 'fp' });
  });
});

describe('directReplySink', () => {
  const delivery = (id: number, topic: string): ReplyDelivery => ({ id, commandId: randomUUID(), topic, reply: buildReply({ id: randomUUID(), type: 't' }, 200, {}) });
  function harness(fail: (ds: ReplyDelivery[]) => ReplyNotPublished | undefined) {
    const seen = { published: [] as number[][], marked: [] as number[][], queued: [] as number[][] };
    const sink = directReplySink({
      publisher: {
        async publishAll(ds) {
          const error = fail(ds);
          if (error) throw error;
          seen.published.push(ds.map((d) => d.id));
        },
      },
      markDelivered: async (ids) => void seen.marked.push(ids),
      fallback: { enqueue: async (ds) => void seen.queued.push(ds.map((d) => d.id)) },
      logger: createLogger('silent'),
    });
    return { sink, seen };
  }

  it('publishes a batch at once and marks it delivered in one call; the queue gets nothing', async () => {
    const { sink, seen } = harness(() => undefined);
    await sink.enqueue([delivery(1, 'a'), delivery(2, 'b')]);
    await sink.flush();
    expect(seen).toEqual({ published: [[1, 2]], marked: [[1, 2]], queued: [] });
  });

  it('hands a failed batch to the queue, and sends a topic that failed by the queue only for a while', async () => {
    const { sink, seen } = harness((ds) => (ds.some((d) => d.topic === 'missing') ? new ReplyNotPublished('missing-topic', 'no such topic') : undefined));
    await sink.enqueue([delivery(1, 'ok')]);
    await sink.flush();
    await sink.enqueue([delivery(2, 'ok'), delivery(3, 'missing')]);
    await sink.flush();
    // 'ok' was sent to just now, so only 'missing' is suspect: the next stretch sends 'ok' directly again.
    await sink.enqueue([delivery(4, 'ok'), delivery(5, 'missing')]);
    await sink.flush();
    expect(seen.published).toEqual([[1], [4]]);
    expect(seen.marked).toEqual([[1], [4]]);
    expect(seen.queued).toEqual([[2, 3], [5]]);
  });

  it('marks in the background, the ids of calls made meanwhile in one later call, and flush waits for them', async () => {
    const gates: Array<() => void> = [];
    const marked: number[][] = [];
    const sink = directReplySink({
      publisher: { publishAll: async () => {} },
      markDelivered: (ids) => new Promise<void>((resolve) => gates.push(() => resolve(void marked.push(ids)))),
      fallback: { enqueue: async () => {} },
      logger: createLogger('silent'),
    });
    await sink.enqueue([delivery(1, 'a')]);
    await sink.enqueue([delivery(2, 'a')]);
    await sink.enqueue([delivery(3, 'a')]);
    expect(gates).toHaveLength(1);
    let flushed = false;
    const flushing = sink.flush().then(() => (flushed = true));
    gates[0]!();
    await new Promise((resolve) => setImmediate(resolve));
    expect(gates).toHaveLength(2);
    expect(flushed).toBe(false);
    gates[1]!();
    await flushing;
    expect(marked).toEqual([[1], [2, 3]]);
  });

  it('publishes in the background, one request at a time and in order, the replies of calls made meanwhile in the next request', async () => {
    const gates: Array<() => void> = [];
    const published: number[][] = [];
    const sink = directReplySink({
      publisher: { publishAll: (ds) => new Promise<void>((resolve) => gates.push(() => resolve(void published.push(ds.map((d) => d.id))))) },
      markDelivered: async () => {},
      fallback: { enqueue: async () => {} },
      logger: createLogger('silent'),
    });
    // enqueue does not wait for Kafka: all three return while the first request is still in flight.
    await sink.enqueue([delivery(1, 'a')]);
    await sink.enqueue([delivery(2, 'a')]);
    await sink.enqueue([delivery(3, 'b')]);
    expect(gates).toHaveLength(1);
    const flushing = sink.flush();
    gates[0]!();
    await new Promise((resolve) => setImmediate(resolve));
    expect(gates).toHaveLength(2);
    gates[1]!();
    await flushing;
    expect(published).toEqual([[1], [2, 3]]);
  });

  it('makes enqueue wait once too many replies wait for Kafka', async () => {
    const gates: Array<() => void> = [];
    const sink = directReplySink({
      publisher: { publishAll: () => new Promise<void>((resolve) => gates.push(resolve)) },
      markDelivered: async () => {},
      fallback: { enqueue: async () => {} },
      logger: createLogger('silent'),
    });
    await sink.enqueue([delivery(0, 'a')]);
    let returned = false;
    const big = sink.enqueue(Array.from({ length: 2001 }, (_, i) => delivery(i + 1, 'a'))).then(() => (returned = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(returned).toBe(false);
    gates[0]!();
    await big;
    gates[1]!();
    await sink.flush();
  });

  it('marks no topic while Kafka is unreachable', async () => {
    let down = true;
    const { sink, seen } = harness(() => (down ? new ReplyNotPublished('unreachable', 'no broker') : undefined));
    await sink.enqueue([delivery(1, 'a')]);
    down = false;
    await sink.enqueue([delivery(2, 'a')]);
    await sink.flush();
    expect(seen).toEqual({ published: [[2]], marked: [[2]], queued: [[1]] });
  });
});
