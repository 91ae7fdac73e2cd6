import { randomInt, randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createKnex } from '../../../src/db.js';
import { createLogger } from '../../../src/logger.js';
import { createMetrics } from '../../../src/metrics.js';
import { loadConfig } from '../../../src/config.js';
import { CommandPipeline, type InboundMessage } from '../../../src/pipeline/command-pipeline.js';
import type { PipelinePorts } from '../../../src/pipeline/ports.js';
import type { ReplyDelivery } from '../../../src/models/delivery-state.js';
import { handlers } from '../../../src/handlers/registry.js';
import { CommandRejection, defineHandler, type CommandHandler } from '../../../src/handlers/types.js';
import { testDatabaseUrl, testCommandKeys } from '../env.js';
import { alwaysLive, memoryPorts, messageMaker } from './memory-pipeline.js';

// Group commit (src/pipeline/command-group.ts) on the real Postgres: the commands of a stretch commit in one
// transaction (their rows share one xmin), and what goes wrong for one command (a rejection, a duplicate id, a
// failing handler) stays with that command. A transient failure of the group runs its commands one at a time.

const knex = createKnex(testDatabaseUrl, 4);
afterAll(async () => {
  await knex.destroy();
});
const config = loadConfig({
  COMMAND_KEYS: testCommandKeys,
  DATABASE_URL: testDatabaseUrl,
  COMMAND_INPLACE_RETRY_MS: '2000',
  REPLIES_TOPIC: 'group-test.replies',
});
const logger = createLogger('silent');

const rejecting: CommandHandler = defineHandler({
  type: 'test.reject',
  scope: 'platform',
  payload: z.object({ n: z.number() }),
  async handle() {
    throw new CommandRejection(409, { detail: 'Rejected by the test.' });
  },
});
const broken: CommandHandler = defineHandler({
  type: 'test.broken',
  scope: 'platform',
  payload: z.object({ n: z.number() }),
  async handle(ctx) {
    // Writes first, so that only the savepoint's rollback keeps it out.
    await ctx.trx('organisations').insert({ id: randomInt(1e6, 2e9), name: 'must not exist', experimentation_enabled: false });
    throw new Error('a bug in the handler');
  },
});
/** Fails as a lost connection would, `failures` times. */
const transient = { failures: 0 };
const flaky: CommandHandler = defineHandler({
  type: 'test.flaky-once',
  scope: 'platform',
  payload: z.object({ n: z.number() }),
  async handle(_ctx, p) {
    if (transient.failures-- > 0) throw Object.assign(new Error('Connection terminated unexpectedly'), { code: 'ECONNRESET' });
    return { status: 200, body: { n: p.n } };
  },
});
const allHandlers = new Map([...handlers, ...[rejecting, broken, flaky].map((h) => [h.type, h] as const)]);


const message = messageMaker('group-test.commands');
const idOf = (m: InboundMessage) => JSON.parse(m.value!.toString()).id as string;
const upsert = (key: string, name: string, id: string = randomUUID()) => message('organisation.upsert', { id: randomInt(1e6, 2e9), name, experimentationEnabled: true }, key, id);
const control = alwaysLive;
const pipelineWith = (ports: PipelinePorts, groupSize = '32') =>
  new CommandPipeline({ knex, config: { ...config, COMMAND_GROUP_SIZE: Number(groupSize) }, ports, logger, metrics: createMetrics(), handlers: allHandlers });
const statusesOf = (deliveries: ReplyDelivery[], id: string) => deliveries.filter((d) => d.commandId === id).map((d) => d.reply.status);
const xmins = async (table: string, column: string, ids: string[]) =>
  new Set((await knex(table).whereIn(column, ids).select(knex.raw('xmin::text as xmin'))).map((r: { xmin: string }) => r.xmin));

describe('group commit', () => {
  it('commits a stretch in one transaction; a rejection, duplicates and a failing handler in the middle roll back only their own command', async () => {
    const { ports, seen } = memoryPorts();
    const pipeline = pipelineWith(ports);
    const k = `group-${randomUUID().slice(0, 8)}`;
    // Answered in an earlier stretch: a later stretch's duplicate gets its stored reply.
    const answeredBefore = upsert(`${k}-a`, 'answered before');
    await pipeline.processStretch([answeredBefore], control);

    const first = upsert(`${k}-a`, 'first');
    const rejected = message('test.reject', { n: 1 }, `${k}-b`);
    const again = first; // the same id and bytes twice in one stretch
    const takenId = { ...upsert(`${k}-c`, 'another command, same id', idOf(first)) };
    const failing = message('test.broken', { n: 2 }, `${k}-d`);
    const behindFailing = upsert(`${k}-d`, 'behind the failing one');
    const resent = answeredBefore;
    const last = upsert(`${k}-e`, 'last');
    await pipeline.processStretch([first, rejected, again, takenId, failing, behindFailing, resent, last], control);

    const d = seen.deliveries;
    expect(statusesOf(d, idOf(first))).toEqual([200, 200, 409]);
    const [applied, duplicate, taken] = d.filter((x) => x.commandId === idOf(first));
    expect(duplicate!.reply).toEqual(applied!.reply);
    expect(taken!.reply.body).toEqual({ detail: 'This command id was already used by a different command.' });
    expect(d.find((x) => x.commandId === idOf(rejected))!.reply).toMatchObject({ status: 409, body: { detail: 'Rejected by the test.' } });
    expect(statusesOf(d, idOf(answeredBefore))).toEqual([200, 200]);
    expect(statusesOf(d, idOf(last))).toEqual([200]);
    // The failing command is held, the later one of its key behind it; neither is answered yet.
    expect(statusesOf(d, idOf(failing))).toEqual([]);
    expect(statusesOf(d, idOf(behindFailing))).toEqual([]);
    const held = await knex('held_commands').where('message_key', `${k}-d`).orderBy('id').pluck('command_id');
    expect(held).toEqual([idOf(failing), idOf(behindFailing)]);
    expect(seen.held.every((h) => h.commandId === idOf(failing))).toBe(true);
    expect(await knex('organisations').where({ name: 'must not exist' }).count({ n: '*' })).toEqual([{ n: 0 }]);

    // One transaction, one record statement: the inbox rows of the group (applied and rejected) share an xmin.
    // (The held rows were written in savepoints: subtransactions have xids of their own.)
    const groupIds = [first, rejected, last].map(idOf);
    expect((await xmins('processed_commands', 'command_id', groupIds)).size).toBe(1);
    expect(await knex('processed_commands').where({ command_id: idOf(rejected) }).first('status')).toEqual({ status: 409 });
    const events = await knex('outbox').whereRaw(`payload->>'commandId' = any(?)`, [groupIds]).orderBy('id').select(knex.raw(`payload->>'commandId' as command_id, payload->>'type' as type`));
    expect(events).toEqual([
      { command_id: idOf(first), type: 'organisation.upserted' },
      { command_id: idOf(rejected), type: 'command.rejected' },
      { command_id: idOf(last), type: 'organisation.upserted' },
    ]);
    // Applied once: one inbox row and one audit row for the id used three times.
    expect(await knex('processed_commands').where({ command_id: idOf(first) }).count({ n: '*' })).toEqual([{ n: 1 }]);
    expect(await knex('audit_log').where({ command_id: idOf(first) }).count({ n: '*' })).toEqual([{ n: 1 }]);
  });

  it('runs a group that meets a transient failure one command at a time, each applied once, in key order', async () => {
    const { ports, seen } = memoryPorts();
    const pipeline = pipelineWith(ports);
    const k = `group-transient-${randomUUID().slice(0, 8)}`;
    const before = upsert(k, 'before');
    const flakyOne = message('test.flaky-once', { n: 7 }, k);
    const after = upsert(k, 'after');
    const elsewhere = upsert(`${k}-other`, 'elsewhere');
    transient.failures = 2; // once in the group, once more in its own transaction: retried in place
    await pipeline.processStretch([before, flakyOne, after, elsewhere], control);
    expect(transient.failures).toBe(-1);
    for (const m of [before, after, elsewhere]) expect(statusesOf(seen.deliveries, idOf(m))).toEqual([200]);
    expect(seen.deliveries.find((x) => x.commandId === idOf(flakyOne))!.reply).toMatchObject({ status: 200, body: { n: 7 } });
    expect(seen.held).toEqual([]);
    // Run singly: separate transactions, and the key's commands committed in their order.
    const rows = await knex('processed_commands').whereIn('command_id', [before, flakyOne, after].map(idOf)).select('command_id', knex.raw('xmin::text::bigint as x'));
    const order = rows.sort((a, b) => Number(a.x) - Number(b.x)).map((r) => r.command_id);
    expect(order).toEqual([before, flakyOne, after].map(idOf));
    expect(await knex('audit_log').whereIn('command_id', [before, after, elsewhere].map(idOf)).count({ n: '*' })).toEqual([{ n: 3 }]);
  });

  it('with COMMAND_GROUP_SIZE=1 gives each command a transaction of its own', async () => {
    const { ports, seen } = memoryPorts();
    const pipeline = pipelineWith(ports, '1');
    const k = `group-single-${randomUUID().slice(0, 8)}`;
    const commands = [upsert(k, 'one'), upsert(`${k}-2`, 'two'), upsert(k, 'three')];
    await pipeline.processStretch(commands, control);
    expect(seen.deliveries.map((x) => x.reply.status)).toEqual([200, 200, 200]);
    expect((await xmins('processed_commands', 'command_id', commands.map(idOf))).size).toBe(3);
  });
});
