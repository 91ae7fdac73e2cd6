import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigResourceTypes, type Admin, type Kafka } from 'kafkajs';
import { startTestWorker, systemActor, testWorkerEnv, topicPrefixOf, type TestWorker, eventually } from '../harness.js';
import { createKafka } from '../../../src/transport/kafka.js';
import { createLogger } from '../../../src/logger.js';
import { domainEvent, insertOutboxRows, outboxRow } from '../../../src/models/outbox.js';
import { createTopic, noise, readTopic, signedCommand } from '../hostile/outbound-helpers.js';
import { expctl } from './expctl-process.js';

// `expctl parked` as a child process against a worker whose broker refuses one message of each kind: an event too
// large for its topic, a reply to a topic that does not exist, an unreadable command too large for the DLQ topic.
// Once the cause is fixed, `retry` delivers each; `discard` keeps the row but retries and lists it no more.

const env = testWorkerEnv({ REPLY_DELIVERY_ATTEMPTS: '2' });
const prefix = topicPrefixOf(env);
const smallEvents = `${prefix}small-events`;
const lateReplies = `${prefix}late.replies`;
const neverReplies = `${prefix}never.replies`;

interface Listed {
  id: string;
  kind: string;
  topic: string;
  key: string | null;
  commandId: string | null;
  bytes: number;
  parkedAt: string;
  discardedAt: string | null;
  lastError: string | null;
}

describe('expctl parked', () => {
  let worker: TestWorker;
  let kafka: Kafka;
  let admin: Admin;

  beforeAll(async () => {
    kafka = createKafka(env.KAFKA_BROKERS!.split(','), createLogger('error'), 'parked-cli-test');
    // Made before the worker starts, which leaves existing topics as they are: limits lower than what goes there.
    await createTopic(kafka, env.DLQ_TOPIC!, 4096);
    await createTopic(kafka, smallEvents, 64 * 1024);
    worker = await startTestWorker(env);
    admin = kafka.admin();
    await admin.connect();
  });

  afterAll(async () => {
    await admin?.disconnect();
    await worker?.stop();
  });

  const raiseLimit = (topic: string) =>
    admin.alterConfigs({ validateOnly: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configEntries: [{ name: 'max.message.bytes', value: String(1024 * 1024) }] }] });
  const listed = async (...args: string[]): Promise<Listed[]> => {
    const run = await expctl(['parked', 'list', '--json', ...args], worker.env);
    expect(run.code, run.stderr).toBe(0);
    return (JSON.parse(run.stdout) as { messages: Listed[] }).messages;
  };
  const replyTo = async (topic: string) => {
    const envelope = worker.client.envelope({ type: 'organisation.upsert', actor: systemActor, payload: { id: randomInt(1e6, 2e9), name: 'x', experimentationEnabled: true }, replyTo: topic });
    await worker.client.sendRaw(Buffer.from(JSON.stringify(envelope)), { key: 'parked-cli' });
    return envelope.id;
  };

  it('lists, retries and discards a parked event, reply and dead letter', async () => {
    const event = domainEvent({ type: 'metric.created', environment: 'parked-env', occurredAt: new Date().toISOString(), commandId: null, actor: null, data: { blob: noise(300 * 1024) } });
    await insertOutboxRows(worker.knex, [outboxRow(smallEvents, event)]);
    const commandId = await replyTo(lateReplies);
    const unreadable = Buffer.from(noise(20_000));
    await worker.client.sendRaw(unreadable, { key: 'dlq-key' });

    const parked = await eventually('one parked message of each kind', async () => {
      const all = (await listed()).filter((m) => m.topic.startsWith(prefix));
      return all.length === 3 ? all : undefined;
    }, 40_000);
    const byKind = Object.fromEntries(parked.map((m) => [m.kind, m]));
    expect(byKind.event).toMatchObject({ topic: smallEvents, key: 'parked-env', lastError: expect.stringMatching(/^MESSAGE_TOO_LARGE/) });
    expect(byKind.event!.bytes).toBeGreaterThan(300 * 1024);
    expect(byKind.reply).toMatchObject({ topic: lateReplies, commandId, lastError: expect.stringContaining(`reply topic ${lateReplies} does not exist`) });
    expect(byKind['dead-letter']).toMatchObject({ topic: env.DLQ_TOPIC, key: 'dlq-key', bytes: unreadable.length, lastError: expect.stringMatching(/^MESSAGE_TOO_LARGE/) });
    expect((await listed('--kind', 'replies')).map((m) => m.kind)).toEqual(expect.arrayContaining(['reply']));
    expect((await listed('--kind', 'replies')).every((m) => m.kind === 'reply')).toBe(true);
    const table = await expctl(['parked', 'list'], worker.env);
    expect(table.stdout).toMatch(/ID +TOPIC +KEY \/ COMMAND ID +SIZE +PARKED AT +LAST ERROR/);
    for (const m of parked) expect(table.stdout).toContain(m.id);

    // The causes fixed: the reply topic exists now, the two topics take larger messages.
    await createTopic(kafka, lateReplies);
    await Promise.all([raiseLimit(smallEvents), raiseLimit(env.DLQ_TOPIC!)]);
    const retried = await expctl(['parked', 'retry', byKind.reply!.id], worker.env);
    expect(retried.code, retried.stderr).toBe(0);
    expect(retried.stdout).toContain(`retried 1 parked message(s):\n  ${byKind.reply!.id}`);
    const all = await expctl(['--json', 'parked', 'retry', '--all', '--kind', 'events'], worker.env);
    expect(all.code, all.stderr).toBe(0);
    expect(JSON.parse(all.stdout).ids).toContain(byKind.event!.id);
    const letters = await expctl(['parked', 'retry', byKind['dead-letter']!.id], worker.env);
    expect(letters.code, letters.stderr).toBe(0);

    const reply = await readTopic(kafka, worker.env, lateReplies, (m) => m.some((x) => x.key?.toString() === commandId));
    expect(JSON.parse(reply.at(-1)!.value!.toString('utf8'))).toMatchObject({ commandId, status: 200 });
    expect(await worker.knex('reply_deliveries').where({ command_id: commandId }).first('generation', 'parked_at')).toEqual({ generation: 1, parked_at: null });
    const events = await readTopic(kafka, worker.env, smallEvents, (m) => m.length > 0);
    expect(JSON.parse(events[0]!.value!.toString('utf8'))).toEqual(event);
    const dlq = await readTopic(kafka, worker.env, env.DLQ_TOPIC!, (m) => m.length > 0);
    expect(dlq[0]!.value).toEqual(unreadable);
    expect(dlq[0]!.headers!['x-dlq-reason']?.toString()).toMatch(/^not JSON/);
    await eventually('nothing of ours parked', async () => ((await listed()).some((m) => m.topic.startsWith(prefix)) ? undefined : true));
    // The reply's failed job of the first round is gone; its second round had an id of its own.
    const failedJobs = JSON.parse((await expctl(['--json', 'jobs', 'failed', '--queue', 'replies'], worker.env)).stdout).jobs as Array<{ commandId: string }>;
    expect(failedJobs.filter((j) => j.commandId === commandId)).toEqual([]);

    // Discarded: kept in Postgres, listed only on request, never retried.
    const discardedCommand = await replyTo(neverReplies);
    const toDiscard = await eventually('the second reply parked', async () => (await listed('--kind', 'replies')).find((m) => m.commandId === discardedCommand));
    const discarded = await expctl(['parked', 'discard', toDiscard.id], worker.env);
    expect(discarded.code, discarded.stderr).toBe(0);
    expect(discarded.stdout).toContain(`discarded 1 parked message(s):\n  ${toDiscard.id}`);
    expect((await listed()).map((m) => m.id)).not.toContain(toDiscard.id);
    expect((await listed('--discarded')).find((m) => m.id === toDiscard.id)?.discardedAt).toEqual(expect.any(String));
    const [again, unknown, badId] = await Promise.all([
      expctl(['parked', 'retry', toDiscard.id], worker.env),
      expctl(['parked', 'discard', 'event-999999999'], worker.env),
      expctl(['parked', 'retry', 'nonsense'], worker.env),
    ]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`${toDiscard.id} is not parked`);
    expect(unknown.code).toBe(1);
    expect(badId.code).toBe(2);
    expect(await worker.knex('reply_deliveries').where({ command_id: discardedCommand }).first('delivered_at')).toEqual({ delivered_at: null });
    expect(await admin.listTopics()).not.toContain(neverReplies);
  }, 120_000);
});
