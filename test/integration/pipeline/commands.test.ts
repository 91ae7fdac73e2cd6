import { randomInt, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupTenant, startTestWorker, systemActor, type TestWorker } from '../harness.js';
import { sign } from '../../../src/client/index.js';
import { createKafka } from '../../../src/transport/kafka.js';
import { createLogger } from '../../../src/logger.js';
import { testKeys } from '../env.js';

let worker: TestWorker;
beforeAll(async () => {
  worker = await startTestWorker();
});
afterAll(() => worker?.stop());

const orgPayload = (id = randomInt(1e6, 2e9)) => ({ id, name: `Org ${id}`, experimentationEnabled: true });

describe('command pipeline', () => {
  it('applies a command sent twice once, and answers both sends with the same reply', async () => {
    const id = randomUUID();
    const payload = orgPayload();
    const first = await worker.client.send({ id, type: 'organisation.upsert', payload, correlationId: 'c-1' });
    const second = await worker.client.send({ id, type: 'organisation.upsert', payload, correlationId: 'c-1' });
    expect(first.status).toBe(200);
    expect(second).toEqual(first);
    // The same id with another payload is another command: 409, and the stored reply is not shown to it.
    const other = await worker.client.send({ id, type: 'organisation.upsert', payload: { ...payload, name: 'changed' }, correlationId: 'c-2' });
    expect(other).toMatchObject({ commandId: id, correlationId: 'c-2', status: 409, body: { detail: 'This command id was already used by a different command.' } });
    expect(first.correlationId).toBe('c-1');
    const row = await worker.knex('organisations').where({ id: payload.id }).first();
    expect(row.name).toBe(payload.name);
    expect(await worker.knex('audit_log').where({ command_id: id }).count({ n: '*' })).toEqual([{ n: 1 }]);
    const event = await worker.client.waitForEvent((e) => e.commandId === id);
    expect(event).toMatchObject({ type: 'organisation.upserted', environment: null, actor: systemActor, data: { id: payload.id, name: payload.name } });
    // A second event of the command would be in the outbox before the second reply went out. A later command
    // for the same organisation has its event on the same partition, published after it in outbox order.
    const later = await worker.client.send({ type: 'organisation.upsert', payload });
    await worker.client.waitForEvent((e) => e.commandId === later.commandId);
    expect(worker.client.events.filter((e) => e.commandId === id)).toHaveLength(1);
  });

  it('answers malformed JSON, a wrong signature and an unknown type, and goes on with the next message', async () => {
    const { client } = worker;
    const badJsonId = randomUUID();
    const badJson = Buffer.from(`{"id": "${badJsonId}", "type": "organisation.upsert", "replyTo": "${client.replyTopic}", "payload": {`);
    const badJsonReply = client.waitForReply(badJsonId);
    await client.sendRaw(badJson);

    const wrongSig = client.envelope({ type: 'organisation.upsert', payload: orgPayload() });
    const wrongSigReply = client.waitForReply(wrongSig.id);
    await client.sendRaw(Buffer.from(JSON.stringify(wrongSig)), { signature: sign('something else', testKeys.system.secret) });

    const noSig = client.envelope({ type: 'organisation.upsert', payload: orgPayload() });
    const noSigReply = client.waitForReply(noSig.id);
    await client.sendRaw(Buffer.from(JSON.stringify(noSig)), { signature: null, keyId: null });

    const unknownType = client.send({ type: 'organisation.explode', payload: {} });
    const next = client.send({ type: 'organisation.upsert', payload: orgPayload() });

    expect(await badJsonReply).toMatchObject({ commandId: badJsonId, status: 400, body: { detail: expect.stringMatching(/^Malformed JSON/) } });
    expect(await wrongSigReply).toMatchObject({ status: 401, body: { detail: 'Invalid signature.' } });
    expect(await noSigReply).toMatchObject({ status: 401, body: { detail: 'Missing signature.' } });
    expect(await unknownType).toMatchObject({ status: 400, body: { type: ["Unknown command type 'organisation.explode'."] } });
    expect((await next).status).toBe(200);
    // Nothing was applied for the rejected ones.
    expect(await worker.knex('processed_commands').whereIn('command_id', [badJsonId, wrongSig.id, noSig.id]).count({ n: '*' })).toEqual([{ n: 0 }]);
  });

  it('rejects a user key signing for a system actor with 401', async () => {
    const userClient = await worker.newClient('user');
    const reply = await userClient.send({ type: 'organisation.upsert', actor: systemActor, payload: orgPayload() });
    expect(reply).toMatchObject({ status: 401, body: { detail: 'This key may not sign commands for a system actor.' } });
  });

  it('answers a non-envelope with field errors, to the default replies topic when replyTo is unreadable', async () => {
    const kafka = createKafka(worker.config.KAFKA_BROKERS, createLogger('warn'), 'replies-reader');
    const consumer = kafka.consumer({ groupId: `replies-reader-${randomUUID()}` });
    await consumer.connect();
    await consumer.subscribe({ topic: worker.config.REPLIES_TOPIC, fromBeginning: true });
    const id = randomUUID();
    const got = new Promise<{ key: string; value: Record<string, unknown> }>((resolve) => {
      void consumer.run({
        eachMessage: async ({ message }) => {
          const value = JSON.parse(message.value!.toString());
          if (value.commandId === id) resolve({ key: message.key!.toString(), value });
        },
      });
    });
    await worker.client.sendRaw(Buffer.from(JSON.stringify({ id, type: 'organisation.upsert', actor: { type: 'robot' }, replyTo: 'bad topic!' })));
    const reply = await got;
    await consumer.disconnect();
    expect(reply.key).toBe(id);
    expect(reply.value).toMatchObject({
      status: 400,
      body: { 'actor.type': [expect.stringContaining('is not a valid choice')], 'actor.id': ['This field is required.'], replyTo: ['Not an allowed reply topic.'] },
    });
  });

  it('sends a message without a readable id to the DLQ with its original bytes and a reason', async () => {
    const kafka = createKafka(worker.config.KAFKA_BROKERS, createLogger('warn'), 'dlq-reader');
    const consumer = kafka.consumer({ groupId: `dlq-reader-${randomUUID()}` });
    await consumer.connect();
    await consumer.subscribe({ topic: worker.config.DLQ_TOPIC, fromBeginning: true });
    const marker = `garbage-${randomUUID()}`;
    const got = new Promise<{ value: string; reason: string }>((resolve) => {
      void consumer.run({
        eachMessage: async ({ message }) => {
          const value = message.value!.toString();
          if (value.includes(marker)) resolve({ value, reason: message.headers!['x-dlq-reason']!.toString() });
        },
      });
    });
    await worker.client.sendRaw(Buffer.from(`not json ${marker}`));
    const after = await worker.client.send({ type: 'organisation.upsert', payload: orgPayload() });
    const dead = await got;
    await consumer.disconnect();
    expect(dead.value).toBe(`not json ${marker}`);
    expect(dead.reason).toMatch(/^not JSON and no readable id/);
    expect(after.status).toBe(200);
  });

  it('answers payload errors with field errors and a command.rejected event', async () => {
    const reply = await worker.client.send({ type: 'organisation.upsert', payload: { id: 'x', name: '' } });
    expect(reply.status).toBe(400);
    expect(reply.body).toEqual({
      id: ['A valid integer is required.'],
      name: ['This field may not be blank.'],
      experimentationEnabled: ['This field is required.'],
    });
    const event = await worker.client.waitForEvent((e) => e.commandId === reply.commandId);
    expect(event).toMatchObject({ type: 'command.rejected', data: { status: 400, body: reply.body } });
  });
});

describe('platform commands', () => {
  it('builds a tenant and answers platform commands per the contract', async () => {
    const tenant = await setupTenant(worker.client);
    const feature = await worker.knex('features').where({ id: tenant.featureId }).first();
    expect(feature).toMatchObject({ type: 'MULTIVARIATE', variants: [{ key: 'variant_a', percentageAllocation: 50 }] });
    const env = await worker.client.waitForEvent((e) => e.type === 'environment.upserted' && e.environment === tenant.environment);
    expect(env.data).toMatchObject({ key: tenant.environment, projectId: tenant.projectId });

    // A user actor may not send platform commands.
    const asUser = await worker.client.send({ type: 'project.upsert', actor: tenant.admin, payload: { id: 1, organisationId: tenant.organisationId, name: 'x' } });
    expect(asUser).toMatchObject({ status: 403, body: { detail: 'You do not have permission to perform this action.' } });
    // Upsert replaces.
    const renamed = await worker.client.send({ type: 'project.upsert', payload: { id: tenant.projectId, organisationId: tenant.organisationId, name: 'Renamed' } });
    expect(renamed).toMatchObject({ status: 200, body: { id: tenant.projectId, name: 'Renamed' } });
    // A project of an unknown organisation.
    const orphan = await worker.client.send({ type: 'project.upsert', payload: { id: 5, organisationId: 1, name: 'x' } });
    expect(orphan).toMatchObject({ status: 400, body: { organisationId: ['Invalid pk "1" - object does not exist.'] } });
    // Revoking a grant that does not exist is still 204.
    const revoke = await worker.client.send({ type: 'access.revoke', payload: { userId: 'nobody', scope: 'environment', scopeId: tenant.environment, role: 'admin' } });
    expect(revoke).toMatchObject({ status: 204, body: null });
    const revokeReal = await worker.client.send({ type: 'access.revoke', payload: { userId: tenant.adminUserId, scope: 'organisation', scopeId: tenant.organisationId, role: 'admin' } });
    expect(revokeReal.status).toBe(204);
    expect(await worker.knex('access_grants').where({ user_id: tenant.adminUserId })).toHaveLength(0);
    // Environment delete, then the environment is unknown.
    const del = await worker.client.send({ type: 'environment.delete', payload: { key: tenant.environment } });
    expect(del).toMatchObject({ status: 204, body: null });
    expect(await worker.knex('environments').where({ key: tenant.environment })).toHaveLength(0);
    const again = await worker.client.send({ type: 'environment.delete', payload: { key: tenant.environment } });
    expect(again).toMatchObject({ status: 404, body: { detail: 'Not found.' } });
    const audit = await worker.knex('audit_log').where({ command_id: del.commandId }).first();
    expect(audit).toMatchObject({ action: 'delete', resource_type: 'environment', resource_id: tenant.environment, actor_type: 'system' });
  });
});
