import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupTenant, startTestWorker, type Tenant, type TestWorker } from '../harness.js';
import { checkoutMetric } from '../domain/commands.js';
import type { ExperimentationClient } from '../../../src/client/index.js';

// CONTRACT.md "A command id belongs to the command that first used it": ids are public (every event carries its
// command's id), so reusing one from another environment, actor or key must never return the first command's reply.

const TAKEN = { detail: 'This command id was already used by a different command.' };
let worker: TestWorker;
let userClient: ExperimentationClient;
let a: Tenant;
let b: Tenant;
beforeAll(async () => {
  worker = await startTestWorker();
  userClient = await worker.newClient('user');
  [a, b] = [await setupTenant(worker.client), await setupTenant(worker.client)];
});
afterAll(() => worker?.stop());

describe('command id reuse', () => {
  it('answers another tenant reusing an id 409, never with the stored reply, and applies nothing', async () => {
    const id = randomUUID();
    const first = await userClient.send({ id, type: 'metric.create', environment: a.environment, actor: a.admin, payload: checkoutMetric({ name: 'Secret metric' }) });
    expect(first.status).toBe(201);
    const metricsBefore = await worker.knex('metrics').count({ n: '*' });

    const attempts = [
      // another environment and its admin, the same key
      userClient.send({ id, type: 'metric.create', environment: b.environment, actor: b.admin, payload: checkoutMetric({ name: 'Secret metric' }) }),
      // the same environment, another actor
      userClient.send({ id, type: 'metric.create', environment: a.environment, actor: b.admin, payload: checkoutMetric({ name: 'Secret metric' }) }),
      // everything the same but the signing key
      worker.client.send({ id, type: 'metric.create', environment: a.environment, actor: a.admin, payload: checkoutMetric({ name: 'Secret metric' }) }),
      // a read of it
      userClient.send({ id, type: 'metric.get', environment: b.environment, actor: b.admin, payload: { id: (first.body as { id: number }).id } }),
    ];
    for (const reply of await Promise.all(attempts)) {
      expect(reply).toMatchObject({ commandId: id, status: 409, body: TAKEN });
      expect(JSON.stringify(reply)).not.toContain('Secret metric');
    }
    expect(await worker.knex('metrics').count({ n: '*' })).toEqual(metricsBefore);

    // The first sender resending (a new sentAt and correlation id) still gets its stored reply.
    const again = await userClient.send({ id, type: 'metric.create', environment: a.environment, actor: a.admin, correlationId: 'resend', payload: checkoutMetric({ name: 'Secret metric' }) });
    expect(again).toMatchObject({ status: 201, body: first.body });
  });

  it('answers a command that would be rejected (403) with the 409, not with the stored reply', async () => {
    const id = randomUUID();
    expect((await userClient.send({ id, type: 'metric.create', environment: a.environment, actor: a.admin, payload: checkoutMetric() })).status).toBe(201);
    const outsider = await userClient.send({ id, type: 'metric.list', environment: a.environment, actor: { type: 'user', id: 'nobody' }, payload: {} });
    expect(outsider).toMatchObject({ status: 409, body: TAKEN });
  });

  it('answers a duplicate after the stored reply body expired with its status and the expired body', async () => {
    const id = randomUUID();
    const first = await userClient.send({ id, type: 'metric.create', environment: a.environment, actor: a.admin, payload: checkoutMetric() });
    expect(first.status).toBe(201);
    // What the hourly inbox expiry leaves: id, fingerprint and status, no body.
    await worker.knex('processed_commands').where({ command_id: id }).update({ reply: null });
    const again = await userClient.send({ id, type: 'metric.create', environment: a.environment, actor: a.admin, payload: checkoutMetric() });
    expect(again).toMatchObject({ commandId: id, type: 'metric.create', status: 201, body: { detail: 'The stored reply of this command has expired.' } });
    expect(await worker.knex('processed_commands').where({ command_id: id }).first('fingerprint', 'status')).toMatchObject({ status: 201, fingerprint: expect.stringMatching(/^[0-9a-f]{64}$/) });
  });
});
