import { randomInt, randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { createKnex } from '../../../src/db.js';
import { createLogger } from '../../../src/logger.js';
import { createMetrics } from '../../../src/metrics.js';
import { loadConfig } from '../../../src/config.js';
import { CommandPipeline, type InboundMessage } from '../../../src/pipeline/command-pipeline.js';
import { runHeldCommand } from '../../../src/pipeline/held-commands.js';
import { handlers } from '../../../src/handlers/registry.js';
import { defineHandler, type CommandHandler } from '../../../src/handlers/types.js';
import { testDatabaseUrl, testCommandKeys, testKeys } from '../env.js';
import { alwaysLive, memoryPorts, messageMaker } from './memory-pipeline.js';
import { z } from 'zod';

// The pipeline on the real Postgres with in-memory ports (no Kafka, no Redis): what it records, it hands to the
// ports; what fails transiently is held, in key order; the held runner settles it.

const knex = createKnex(testDatabaseUrl, 4);
afterAll(async () => {
  await knex.destroy();
});
const config = loadConfig({
  COMMAND_KEYS: testCommandKeys,
  DATABASE_URL: testDatabaseUrl,
  COMMAND_INPLACE_RETRY_MS: '0',
  COMMAND_RETRY_ATTEMPTS: '2',
  COMMAND_RETRY_BACKOFF_MS: '10',
  REPLIES_TOPIC: 'pipeline-test.replies',
});
const logger = createLogger('silent');


/** A handler that fails as a lost connection would, as long as `failing` says so. */
const flaky = { failing: true };
const flakyHandler: CommandHandler = defineHandler({
  type: 'test.flaky',
  scope: 'platform',
  payload: z.object({ n: z.number() }),
  async handle(_ctx, p) {
    if (flaky.failing) throw Object.assign(new Error('Connection terminated unexpectedly'), { code: 'ECONNRESET' });
    return { status: 200, body: { n: p.n } };
  },
});
const allHandlers = new Map([...handlers, [flakyHandler.type, flakyHandler]]);

const message = messageMaker('pipeline-test.commands');
const control = alwaysLive;

describe('command pipeline with in-memory ports', () => {
  it('records and hands over a reply per command, a rejection per unreadable signature, and a DLQ letter for no id', async () => {
    const { ports, seen } = memoryPorts();
    const pipeline = new CommandPipeline({ knex, config, ports, logger, metrics: createMetrics(), handlers: allHandlers });
    const orgId = randomInt(1e6, 2e9);
    const ok = message('organisation.upsert', { id: orgId, name: 'o', experimentationEnabled: true }, 'k1');
    const forged = { ...message('organisation.upsert', { id: orgId, name: 'forged', experimentationEnabled: true }, 'k2'), headers: { 'x-key-id': testKeys.system.keyId, 'x-signature': 'sha256=00' } };
    const junk: InboundMessage = { ...message('x', {}, 'k3'), value: Buffer.from('not json') };
    await pipeline.processStretch([ok, forged, junk], control);
    expect(seen.deliveries.map((d) => d.reply.status).sort()).toEqual([200, 401]);
    expect(seen.letters).toHaveLength(1);
    expect(seen.letters[0]!.reason).toMatch(/^not JSON/);
    const recorded = await knex('reply_deliveries').whereIn('id', seen.deliveries.map((d) => d.id)).select('id', 'delivered_at');
    expect(recorded).toHaveLength(2);
    expect(await knex('organisations').where({ id: orgId }).first('name')).toEqual({ name: 'o' });
  });

  it('holds a failing command and the later ones of its key, runs them in order, and answers 500 after its attempts', async () => {
    const { ports, seen } = memoryPorts();
    const pipeline = new CommandPipeline({ knex, config, ports, logger, metrics: createMetrics(), handlers: allHandlers });
    const key = `held-${randomUUID()}`;
    flaky.failing = true;
    const first = message('test.flaky', { n: 1 }, key);
    const second = message('test.flaky', { n: 2 }, key);
    const elsewhere = message('test.flaky', { n: 3 }, `${key}-other`);
    await pipeline.processStretch([first, second], control);
    const rows = await knex('held_commands').where('message_key', key).orderBy('id').select('id', 'command_id');
    expect(rows.map((r) => r.command_id)).toEqual([first, second].map((m) => JSON.parse(m.value!.toString()).id));
    const [head, behind] = rows.map((r) => ({ heldId: Number(r.id), commandId: r.command_id as string }));
    // What is scheduled is always the key's head.
    expect(seen.held.map((h) => h.commandId)).toEqual([head!.commandId, head!.commandId]);

    const deps = { knex, config, pipeline, logger, metrics: createMetrics() };
    // The second is not the head: it waits.
    expect(await runHeldCommand(deps, behind!)).toMatchObject({ kind: 'waiting' });
    // The head fails twice (COMMAND_RETRY_ATTEMPTS = 2), then it is answered 500 and moves to failed_commands.
    expect(await runHeldCommand(deps, head!)).toMatchObject({ kind: 'retry', attempts: 1 });
    expect(await runHeldCommand(deps, head!)).toMatchObject({ kind: 'exhausted', attempts: 2 });
    expect(seen.deliveries.at(-1)!.reply).toMatchObject({ status: 500, body: { detail: 'The command failed after all retries.' } });
    // The next held command of the key was scheduled; it now succeeds.
    expect(seen.held.at(-1)!.commandId).toBe(behind!.commandId);
    flaky.failing = false;
    expect(await runHeldCommand(deps, behind!)).toEqual({ kind: 'settled', status: 200 });
    expect(await knex('held_commands').where('message_key', key).count({ n: '*' })).toEqual([{ n: 0 }]);

    // A redelivery of the failed command gets the 500 again and applies nothing; an operator's replay applies it.
    const before = seen.deliveries.length;
    await pipeline.processStretch([first, elsewhere], control);
    const lanes = seen.deliveries.slice(before);
    expect(lanes.find((d) => d.commandId === head!.commandId)!.reply.status).toBe(500);
    expect(lanes.find((d) => d.commandId !== head!.commandId)!.reply).toMatchObject({ status: 200, body: { n: 3 } });
    expect(await runHeldCommand(deps, head!)).toEqual({ kind: 'replayed', status: 200 });
    expect(seen.deliveries.at(-1)!.reply).toMatchObject({ status: 200, body: { n: 1 } });
  });
});
