import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import type { Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupTenant, startTestWorker, type TestWorker, eventually } from '../harness.js';
import { testDatabaseUrl } from '../env.js';
import type { Reply } from '../../../src/contracts/envelope.js';
import { createKafka, workerTopics } from '../../../src/transport/kafka.js';
import { createLogger } from '../../../src/logger.js';
import { deleteQueueKeys, deleteTopics, holdLock, keysOnTwoPartitions, produceTogether, testPool, untilBlocked, withApplicationName } from './helpers.js';

// README "Delivery and ordering guarantees", first point: "Two deliveries of one id racing each other are settled
// by the inbox primary key: one commits, the other rolls back whole and answers with the stored reply."
//
// The race is made certain, not likely: the same signed bytes go to two partitions of the commands topic (the
// worker consumes several partitions at once), and the test holds the very inbox row both executions will write
// (an uncommitted processed_commands row with the command's id). Each execution runs its handler (creating a
// metric, uncommitted) and then waits on that row; the test sees in pg_stat_activity that two backends of this
// worker are waiting on it, and only then rolls it back, so that the two executions finish against each other.
//
// Checked that it can fail: with the inbox insert in recordOutcome (src/pipeline/execute-command.ts) made
// `on conflict do nothing`, both executions commit (two metrics, two audit rows, two metric.created events) and
// the test fails: the second reply is a fresh 201 of its own, not the stored one.

const WORKER_APP = `guarantees-race-${randomUUID().slice(0, 8)}`;
let worker: TestWorker;
let db: Knex;
let producer: Producer;
beforeAll(async () => {
  worker = await startTestWorker({
    DATABASE_URL: withApplicationName(testDatabaseUrl, WORKER_APP),
    PARTITIONS_CONSUMED_CONCURRENTLY: '6',
    // The executions wait on the test's lock for a while; a lock timeout would turn the race into a retry.
    COMMAND_LOCK_TIMEOUT_MS: '30000',
  });
  db = testPool(`guarantees-race-test-${randomUUID().slice(0, 8)}`);
  producer = createKafka(worker.config.KAFKA_BROKERS, createLogger('warn'), 'guarantees-race-producer').producer();
  await producer.connect();
});
afterAll(async () => {
  await producer?.disconnect();
  await worker?.stop();
  await db?.destroy();
  if (worker) {
    await deleteQueueKeys(worker.config.QUEUE_PREFIX);
    await deleteTopics(worker.config.KAFKA_BROKERS, [...workerTopics(worker.config).map((t) => t.topic), worker.client.replyTopic]);
  }
});

describe('two deliveries of one command id at the same time', () => {
  it('apply it once and answer both with the same stored reply', async () => {
    const tenant = await setupTenant(worker.client);
    const name = `Raced metric ${randomUUID().slice(0, 8)}`;
    const envelope = worker.client.envelope({
      type: 'metric.create',
      environment: tenant.environment,
      actor: tenant.admin,
      payload: { name, aggregation: 'occurrence', definition: { version: 1, event: 'checkout' } },
    });
    const bytes = Buffer.from(JSON.stringify(envelope));
    const keys = keysOnTwoPartitions(worker.config.COMMANDS_TOPIC, worker.config.COMMANDS_PARTITIONS, tenant.environment);

    const inboxRow = await holdLock(db, (trx) =>
      trx('processed_commands').insert({ command_id: envelope.id, type: 'metric.create', environment_key: tenant.environment, status: 0, reply: {} }),
    );
    let replies: Promise<Reply[]>;
    try {
      replies = Promise.all([worker.client.waitForReply(envelope.id, 60_000), worker.client.waitForReply(envelope.id, 60_000)]);
      await produceTogether(producer, worker.config.COMMANDS_TOPIC, keys.map((key) => ({ key, value: bytes })));
      const blocked = await untilBlocked(db, inboxRow.pid, WORKER_APP, 2, 10_000);
      expect(blocked).toHaveLength(2);
      // Both at the statement that writes audit, outbox and inbox (recordOutcome; pg_stat_activity shows its start).
      expect(blocked.map((b) => b.query.trimStart().slice(0, 18))).toEqual(['with audit_rows as', 'with audit_rows as']);
    } finally {
      await inboxRow.release();
    }
    const [first, second] = (await replies!) as [Reply, Reply];

    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ name });
    // The same stored reply, processedAt included: the loser did not build one of its own.
    expect(second).toEqual(first);

    // Applied once: one metric, one audit row, one event row, one inbox row.
    const metrics = await db('metrics').join('environments', 'environments.id', 'metrics.environment_id').where({ 'environments.key': tenant.environment, 'metrics.name': name }).select('metrics.id');
    expect(metrics).toEqual([{ id: (first.body as { id: number }).id }]);
    expect(await db('audit_log').where({ command_id: envelope.id }).count({ n: '*' })).toEqual([{ n: 1 }]);
    const outbox = await db('outbox').whereRaw(`payload->>'commandId' = ?`, [envelope.id]).select('id', 'payload');
    expect(outbox.map((r) => r.payload.type)).toEqual(['metric.created']);
    expect(await db('processed_commands').where({ command_id: envelope.id }).pluck('status')).toEqual([201]);
    // Both answered: two reply deliveries of the one stored reply, both delivered.
    await eventually('both replies marked delivered', async () => {
      const rows = await db('reply_deliveries').where({ command_id: envelope.id }).select('delivered_at', 'reply');
      return rows.length === 2 && rows.every((r) => r.delivered_at !== null && r.reply === null);
    }, 30_000);

    // One event on the topic (at least once: dedupe by event id). A later command of the same environment is
    // published after it (same key, outbox order), so once its event is in, ours has had every chance to repeat.
    // (A rejected command publishes command.rejected: that is the later event.)
    const later = await worker.client.send({ type: 'metric.get', environment: tenant.environment, actor: tenant.admin, payload: { id: 2_000_000_000 } });
    expect(later.status).toBe(404);
    await worker.client.waitForEvent((e) => e.commandId === later.commandId && e.type === 'command.rejected');
    const events = worker.client.events.filter((e) => e.commandId === envelope.id);
    expect(new Set(events.map((e) => e.id)).size).toBe(1);
    expect(events[0]).toMatchObject({ id: outbox[0]!.payload.id, type: 'metric.created', data: { name } });
  });
});
