import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKnex } from '../../../src/db.js';
import { createLogger } from '../../../src/logger.js';
import { testDatabaseUrl } from '../env.js';
import { Reconciler } from '../../../src/pipeline/reconciler.js';
import type { PipelinePorts } from '../../../src/pipeline/ports.js';
import type { JobDraft } from '../../../src/handlers/types.js';
import type { HeldCommandRef, ReplyDelivery } from '../../../src/models/delivery-state.js';
import { holdCommand, insertReplyDeliveries, markRepliesDelivered, parkReplyDelivery, unparkReplyDeliveries } from '../../../src/models/delivery-state.js';
import { discardParked } from '../../../src/models/parked.js';

// The reconciler against the real Postgres, with in-memory ports standing in for BullMQ: what Postgres records
// as still to do is handed to the ports, and nothing else.

const knex = createKnex(testDatabaseUrl, 4);
afterAll(async () => {
  await knex.destroy();
});

function memoryPorts() {
  const seen = { replies: [] as ReplyDelivery[], held: [] as HeldCommandRef[], jobs: [] as JobDraft[], schedules: 0 };
  const ports: PipelinePorts = {
    replies: { enqueue: async (d) => void seen.replies.push(...d) },
    retries: { schedule: async (h) => void seen.held.push(...h) },
    deadLetters: { send: async () => {} },
    jobs: { enqueue: async (j) => void seen.jobs.push(...j), ensureSchedules: async () => void seen.schedules++ },
  };
  return { ports, seen };
}

const reply = (commandId: string) => ({ commandId, type: 'organisation.upsert', status: 200, body: { ok: true }, processedAt: new Date().toISOString() });

describe('reconciler', () => {
  let pending: ReplyDelivery;
  let key: string;
  const commandIds: string[] = [randomUUID(), randomUUID()];

  beforeAll(async () => {
    // A reply still to send, one already sent, and two commands held behind each other on one key.
    const [p, sent] = await insertReplyDeliveries(knex, [
      { commandId: randomUUID(), topic: 'some.replies', reply: reply('a'), stored: false },
      { commandId: randomUUID(), topic: 'some.replies', reply: reply('b'), stored: false },
    ]);
    pending = p!;
    await markRepliesDelivered(knex, [sent!.id]);
    await knex('reply_deliveries').whereIn('id', [p!.id, sent!.id]).update({ created_at: knex.raw("now() - interval '1 minute'") });
    key = `reconcile-${randomUUID()}`;
    for (const commandId of commandIds) {
      await holdCommand(knex, { commandId, commandType: 'organisation.upsert', messageKey: key, sourceTopic: 't', value: Buffer.from('{}'), headers: {} }, 'test');
    }
  });

  it('hands the queues every undelivered reply and the head of every held key, and installs the schedules', async () => {
    const { ports, seen } = memoryPorts();
    const report = await new Reconciler({ knex, ports, logger: createLogger('silent'), intervalMs: 60_000, inboxReplyRetentionDays: 30 }).tick();
    expect(report).not.toBeNull();
    expect(seen.replies.map((r) => r.id)).toContain(pending.id);
    expect(seen.replies.find((r) => r.id === pending.id)).toMatchObject({ commandId: pending.commandId, topic: 'some.replies', reply: { commandId: 'a', status: 200 } });
    const heads = seen.held.filter((h) => commandIds.includes(h.commandId));
    expect(heads.map((h) => h.commandId)).toEqual([commandIds[0]]); // only the head: the second waits behind it
    expect(seen.schedules).toBe(1);
  });

  it('leaves parked and discarded replies alone; one an operator retried comes back with its next generation', async () => {
    const drafts = ['parked', 'discarded', 'retried'].map((c) => ({ commandId: randomUUID(), topic: 'some.replies', reply: reply(c), stored: false }));
    const [parked, discarded, retried] = await insertReplyDeliveries(knex, drafts);
    const ids = [parked!.id, discarded!.id, retried!.id];
    await knex('reply_deliveries').whereIn('id', ids).update({ created_at: knex.raw("now() - interval '1 minute'") });
    for (const id of ids) await parkReplyDelivery(knex, id, 'test: undeliverable');
    expect(await discardParked(knex, 'reply', [discarded!.id])).toEqual([discarded!.id]);
    expect((await unparkReplyDeliveries(knex, [retried!.id])).map((d) => [d.id, d.generation])).toEqual([[retried!.id, 1]]);

    const { ports, seen } = memoryPorts();
    await new Reconciler({ knex, ports, logger: createLogger('silent'), intervalMs: 60_000, inboxReplyRetentionDays: 30 }).tick();
    const handed = seen.replies.filter((r) => ids.includes(r.id));
    expect(handed.map((r) => [r.id, r.generation])).toEqual([[retried!.id, 1]]);
    await knex('reply_deliveries').whereIn('id', ids).delete();
  });

  it('lets one instance reconcile at a time', async () => {
    const { ports } = memoryPorts();
    const holder = await knex.transaction();
    try {
      await holder.raw('select pg_advisory_xact_lock(7302114002)');
      expect(await new Reconciler({ knex, ports, logger: createLogger('silent'), intervalMs: 60_000, inboxReplyRetentionDays: 30 }).tick()).toBeNull();
    } finally {
      await holder.rollback();
    }
  });

  afterAll(async () => {
    await knex('held_commands').where('message_key', key).delete();
    await knex('reply_deliveries').where('id', pending.id).delete();
  });
});
