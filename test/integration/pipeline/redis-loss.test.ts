import { randomInt, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Knex } from 'knex';
import { Queue, type ConnectionOptions } from 'bullmq';
import { Redis } from 'ioredis';
import { startTestWorker, systemActor, type TestWorker } from '../harness.js';
import { PrivateRedis } from '../chaos/private-redis.js';
import { QUEUE_NAMES } from '../../../src/jobs/queues.js';
import type { Reply } from '../../../src/contracts/envelope.js';

// CONTRACT.md "Postgres is the source of truth": Redis may be unreachable, or lose all its data, at any moment;
// no accepted command, reply, retry or schedule is lost. The worker's Redis here is a private redis-server
// (no persistence) behind a proxy the test can cut.

let redis: PrivateRedis;
let worker: TestWorker;
beforeAll(async () => {
  redis = await PrivateRedis.start();
  worker = await startTestWorker({
    REDIS_URL: redis.url,
    RECONCILE_INTERVAL_S: '2',
    COMMAND_LOCK_TIMEOUT_MS: '200',
    COMMAND_INPLACE_RETRY_MS: '500',
    COMMAND_RETRY_BACKOFF_MS: '4000',
    COMMAND_RETRY_ATTEMPTS: '30',
  });
});
afterAll(async () => {
  await worker?.stop();
  await redis?.stop();
});

const upsert = (id = randomInt(1e6, 2e9), name = `Org ${id}`) => ({ id: randomUUID(), type: 'organisation.upsert', actor: systemActor, payload: { id, name, experimentationEnabled: true } });

async function appliedOnce(knex: Knex, ids: string[]): Promise<void> {
  expect(await knex('processed_commands').whereIn('command_id', ids).count({ n: '*' })).toEqual([{ n: ids.length }]);
  const audits = await knex('audit_log').whereIn('command_id', ids).groupBy('command_id').select('command_id').count({ n: '*' });
  expect(audits.filter((a) => Number(a.n) !== 1)).toEqual([]);
  expect(audits).toHaveLength(ids.length);
}

describe('Redis trouble', () => {
  it('applies and answers every command sent while Redis is unreachable for 10 s', async () => {
    const outage = redis.unreachableFor(10_000);
    const commands = Array.from({ length: 20 }, () => upsert());
    const replies = commands.map((c) => worker.client.send(c, { timeout: 60_000 }));
    // Applied while Redis is away: Postgres has the change and the reply to send.
    await expect.poll(async () => Number((await worker.knex('processed_commands').whereIn('command_id', commands.map((c) => c.id)).count({ n: '*' }))[0]!.n), { timeout: 9000 }).toBe(20);
    await outage;
    expect((await Promise.all(replies)).map((r) => r.status)).toEqual(commands.map(() => 200));
    await appliedOnce(worker.knex, commands.map((c) => c.id));
  }, 90_000);

  it('rebuilds a held command\'s retry and the schedules after Redis restarts empty', async () => {
    const { knex, client } = worker;
    const orgId = randomInt(1e6, 2e9);
    expect((await client.send(upsert(orgId, 'before'))).status).toBe(200);
    const blocker = await knex.transaction();
    let reply: Promise<Reply>;
    const command = upsert(orgId, 'after');
    try {
      await blocker('organisations').where({ id: orgId }).forUpdate();
      reply = client.send(command, { timeout: 60_000 });
      // Held, and its first attempt from the retry queue failed: the job now waits (delayed) in Redis.
      await expect.poll(async () => (await knex('held_commands').where('command_id', command.id).first('attempts'))?.attempts ?? 0, { timeout: 15_000 }).toBeGreaterThanOrEqual(1);
      // Everything BullMQ held is gone: the held command's retry job and the repeatable schedules. Only the
      // reconciler, from Postgres, can bring the retry back.
      await redis.restartEmpty();
    } finally {
      await blocker.rollback();
    }
    expect(await reply!).toMatchObject({ status: 200, body: { name: 'after' } });
    await appliedOnce(knex, [command.id]);

    const direct = new Redis(redis.directUrl, { maxRetriesPerRequest: null });
    const queue = new Queue(QUEUE_NAMES.results, { connection: direct as unknown as ConnectionOptions, prefix: worker.config.QUEUE_PREFIX });
    try {
      await expect.poll(async () => (await queue.getJobSchedulers()).map((s) => s.key).sort(), { timeout: 10_000 }).toEqual(['results-schedule', 'tracking-maintenance']);
    } finally {
      await queue.close();
      direct.disconnect();
    }
  }, 90_000);
});
