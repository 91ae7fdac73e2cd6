import { randomInt, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Knex } from 'knex';
import { eventually, startTestWorker, systemActor, type TestWorker } from '../harness.js';
import type { Reply } from '../../../src/contracts/envelope.js';

// CONTRACT.md "Order and durability": commands with the same key are applied in the order produced, also when
// one of them meets a transient failure; the later ones wait behind it while other keys go on. The failure here
// is real: a test transaction holds the row the first command needs, so each of its attempts meets the lock
// timeout (a transient error) while Postgres itself answers. Without holding the key's later commands, the
// second command (another row) would be applied before the first (checked by disabling the held-key look-up in
// CommandPipeline.processStretch: this test then fails).

let worker: TestWorker;
beforeAll(async () => {
  worker = await startTestWorker({
    COMMAND_LOCK_TIMEOUT_MS: '200',
    COMMAND_INPLACE_RETRY_MS: '600',
    COMMAND_RETRY_BACKOFF_MS: '200',
    COMMAND_RETRY_ATTEMPTS: '30',
  });
});
afterAll(async () => {
  await worker?.stop();
});

const nextId = () => randomInt(1_000_000, 2_000_000_000);
const upsert = (id: number, name: string, key: string) => ({ id: randomUUID(), type: 'organisation.upsert', actor: systemActor, key, payload: { id, name, experimentationEnabled: true } });

describe('per-key order with a transient failure', () => {
  it('holds the later commands of the key behind the failing one, lets other keys go on, and applies them in order', async () => {
    const { client, knex } = worker;
    const key = `order-key-${randomUUID().slice(0, 8)}`;
    const other = `other-key-${randomUUID().slice(0, 8)}`;
    const orgId = nextId();
    const sideId = nextId();
    expect((await client.send(upsert(orgId, 'initial', key))).status).toBe(200);

    const blocker: Knex.Transaction = await knex.transaction();
    let first: Promise<Reply>, second: Promise<Reply>, third: Promise<Reply>;
    // The second command touches another row, so only the held key keeps it behind the first.
    const commands = [upsert(orgId, 'first', key), upsert(sideId, 'second', key), upsert(orgId, 'third', key)];
    try {
      await blocker('organisations').where({ id: orgId }).forUpdate();
      // Produced one after the other (each acknowledged before the next), so their order on the partition is known.
      // The later two are sent once the first is held, so they reach the worker in a later stretch: only the
      // held key, looked up in Postgres, keeps them behind it.
      const replies: Promise<Reply>[] = [];
      for (const [i, c] of commands.entries()) {
        const envelope = client.envelope(c);
        replies.push(client.waitForReply(envelope.id, 60_000));
        await client.sendRaw(Buffer.from(JSON.stringify(envelope)), { key: c.key });
        if (i === 0) await eventually('the first command held', async () => ((await knex('held_commands').where('message_key', key).first('id')) ? true : undefined));
      }
      [first, second, third] = replies as [Promise<Reply>, Promise<Reply>, Promise<Reply>];
      // The failing command is held in Postgres, and the two after it are held behind it, in order.
      const held = await eventually('three held commands', async () => {
        const rows = await knex('held_commands').where('message_key', key).orderBy('id').select('command_id');
        return rows.length === 3 ? rows.map((r) => r.command_id) : undefined;
      });
      expect(held).toEqual(commands.map((c) => c.id));
      // Another key is not held up.
      const side = await client.send(upsert(nextId(), 'elsewhere', other), { timeout: 10_000 });
      expect(side.status).toBe(200);
      expect(await knex('processed_commands').whereIn('command_id', commands.map((c) => c.id)).count({ n: '*' })).toEqual([{ n: 0 }]);
    } finally {
      await blocker.rollback();
    }

    const replies = await Promise.all([first!, second!, third!]);
    expect(replies.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(await knex('organisations').where({ id: orgId }).first('name')).toEqual({ name: 'third' });
    const applied = await knex('processed_commands').whereIn('command_id', commands.map((c) => c.id)).select('command_id', 'processed_at');
    const order = [...applied].sort((a, b) => a.processed_at.getTime() - b.processed_at.getTime()).map((r) => r.command_id);
    expect(order).toEqual(commands.map((c) => c.id));
    expect(await knex('held_commands').where('message_key', key).count({ n: '*' })).toEqual([{ n: 0 }]);
    // Events of the key leave in the same order.
    await eventually('the three events', async () => (commands.every((c) => client.events.some((e) => e.commandId === c.id)) ? true : undefined));
    const eventOrder = client.events.filter((e) => commands.some((c) => c.id === e.commandId)).map((e) => e.commandId);
    expect([...new Set(eventOrder)]).toEqual(commands.map((c) => c.id));
  });
});
