import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { createKnex } from '../../../src/db.js';
import { createLogger } from '../../../src/logger.js';
import { createMetrics } from '../../../src/metrics.js';
import { createQueues, replySink } from '../../../src/jobs/queues.js';
import { startReplyWorker } from '../../../src/jobs/reply-worker.js';
import { insertReplyDeliveries, type ReplyDelivery } from '../../../src/models/delivery-state.js';
import { ReplyNotPublished, type ReplyFailure } from '../../../src/pipeline/replies.js';
import type { ReplyPublisher } from '../../../src/pipeline/ports.js';
import { testDatabaseUrl, testRedisUrl, testResourceName } from '../env.js';
import { unlinkKeys } from '../test-run.js';
import { eventually } from '../harness.js';

// The reply worker on the real Redis and Postgres with a publisher that fails as told: what each kind of failure
// costs a reply. Refused: parked at once. Missing topic: parked when its attempts are used up. Kafka unreachable:
// waits, using no attempt, and is delivered once Kafka answers (an outage parks nothing).

const knex = createKnex(testDatabaseUrl, 4);
const prefix = testResourceName('-');
const queues = createQueues(testRedisUrl, prefix);

afterAll(async () => {
  await queues.close();
  await knex.destroy();
  await unlinkKeys(`${prefix}:*`);
});

describe('the reply worker', () => {
  it('parks a refused reply at once and a missing-topic one after REPLY_DELIVERY_ATTEMPTS; one waiting for Kafka is delivered, not parked', async () => {
    const calls = new Map<string, number>();
    const plan = new Map<string, (call: number) => ReplyFailure | null>();
    const publisher: ReplyPublisher = {
      async publish({ commandId, topic }) {
        const call = (calls.get(commandId) ?? 0) + 1;
        calls.set(commandId, call);
        const failure = plan.get(commandId)!(call);
        if (failure) throw new ReplyNotPublished(failure, `test: ${failure} (${topic})`);
      },
    };
    const drafts = ['unreachable', 'refused', 'missing'].map((name) => ({
      commandId: randomUUID(),
      topic: `test.${name}`,
      reply: { commandId: name, type: 'organisation.upsert', status: 200, body: null, processedAt: new Date().toISOString() },
      stored: false,
    }));
    const [waiting, refused, missing] = (await insertReplyDeliveries(knex, drafts)) as [ReplyDelivery, ReplyDelivery, ReplyDelivery];
    plan.set(waiting.commandId, (call) => (call <= 4 ? 'unreachable' : null));
    plan.set(refused.commandId, () => 'refused');
    plan.set(missing.commandId, () => 'missing-topic');

    const metrics = createMetrics();
    const worker = startReplyWorker({ redisUrl: testRedisUrl, prefix, knex, publisher, logger: createLogger('silent'), metrics });
    try {
      await replySink(queues, { attempts: 2 }).enqueue([waiting, refused, missing]);
      const row = (d: ReplyDelivery) => knex('reply_deliveries').where('id', d.id).first('delivered_at', 'parked_at', 'last_error');
      await eventually('all three settled', async () => {
        const rows = await Promise.all([waiting, refused, missing].map(row));
        return rows[0]!.delivered_at && rows[1]!.parked_at && rows[2]!.parked_at ? true : undefined;
      }, 30_000);

      expect(calls.get(waiting.commandId)).toBe(5); // four waits used none of its two attempts
      expect(await row(waiting)).toMatchObject({ parked_at: null });
      expect(calls.get(refused.commandId)).toBe(1);
      expect(await row(refused)).toMatchObject({ delivered_at: null, last_error: 'test: refused (test.refused)' });
      expect(calls.get(missing.commandId)).toBe(2);
      expect(await row(missing)).toMatchObject({ delivered_at: null, last_error: 'test: missing-topic (test.missing)' });
      expect((await metrics.parkedMessages.get()).values.find((v) => v.labels.kind === 'reply')?.value).toBe(2);
      const failed = await queues.replies.getFailed();
      expect(failed.map((j) => j.data.id).sort()).toEqual([refused.id, missing.id].sort());
    } finally {
      await worker.close();
      await knex('reply_deliveries').whereIn('id', [waiting.id, refused.id, missing.id]).delete();
    }
  });
});
