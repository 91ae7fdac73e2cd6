import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupTenant, startTestWorker, type Tenant, type TestWorker } from '../harness.js';
import { auditOf, checkoutMetric, eventOf, expectStatus, isoString, NOT_FOUND, sender, type Send } from './commands.js';

let worker: TestWorker;
beforeAll(async () => {
  worker = await startTestWorker();
});
afterAll(() => worker?.stop());

async function tenantWithSender(): Promise<{ tenant: Tenant; send: Send }> {
  const tenant = await setupTenant(worker.client);
  return { tenant, send: sender(worker, tenant) };
}

describe('metric.create', () => {
  it('creates a metric with defaults, publishes metric.created and audits it', async () => {
    const { tenant, send } = await tenantWithSender();
    const reply = await send('metric.create', { name: '  Revenue ', definition: { version: 1, event: 'purchase', property: 'amount' } });
    expect(reply.status).toBe(201);
    expect(reply.body).toEqual({
      id: expect.any(Number),
      uuid: expect.stringMatching(/^[0-9a-f-]{36}$/),
      name: 'Revenue',
      description: '',
      aggregation: 'mean',
      direction: 'up',
      definition: { version: 1, event: 'purchase', property: 'amount' },
      createdAt: isoString,
      updatedAt: isoString,
      experiments: [],
    });
    const metric = reply.body as { id: number };
    const event = await eventOf(worker, reply);
    expect(event).toMatchObject({ type: 'metric.created', environment: tenant.environment, actor: tenant.admin, data: reply.body });
    const row = await worker.knex('metrics').where({ id: metric.id }).first();
    expect(row).toMatchObject({ name: 'Revenue', aggregation: 'mean', deleted_at: null, definition: { version: 1, event: 'purchase', property: 'amount' } });
    expect(await auditOf(worker.knex, reply)).toMatchObject([
      { action: 'create', resource_type: 'metric', resource_id: String(metric.id), actor_type: 'user', actor_id: tenant.adminUserId, environment_key: tenant.environment, before: null, after: reply.body },
    ]);

    const full = await send('metric.create', { ...checkoutMetric(), description: 'Share of visitors who buy', direction: 'down' });
    expect(full).toMatchObject({ status: 201, body: { description: 'Share of visitors who buy', aggregation: 'occurrence', direction: 'down' } });
  });

  it('answers field errors with the contract wording', async () => {
    const { send } = await tenantWithSender();
    const cases: [unknown, unknown][] = [
      [{}, { name: ['This field is required.'], definition: ['This field is required.'] }],
      [checkoutMetric({ name: 'x'.repeat(256) }), { name: ['Ensure this field has no more than 255 characters.'] }],
      [checkoutMetric({ aggregation: 'median', direction: 'sideways' }), { aggregation: ['"median" is not a valid choice.'], direction: ['"sideways" is not a valid choice.'] }],
      [checkoutMetric({ definition: 'checkout' }), { definition: ['Definition must be an object.'] }],
      [checkoutMetric({ definition: [] }), { definition: ['Definition must be an object.'] }],
      [checkoutMetric({ definition: { event: 'checkout' } }), { definition: ["Definition must specify a supported 'version'."] }],
      [checkoutMetric({ definition: { version: 2, event: 'checkout' } }), { definition: ["Definition must specify a supported 'version'."] }],
      [checkoutMetric({ definition: { version: 1 } }), { definition: ["Definition must specify a non-empty 'event'."] }],
      [checkoutMetric({ definition: { version: 1, event: '' } }), { definition: ["Definition must specify a non-empty 'event'."] }],
      [checkoutMetric({ definition: { version: 1, event: 7 } }), { definition: ["Definition must specify a non-empty 'event'."] }],
    ];
    const replies = await Promise.all(cases.map(([payload]) => send('metric.create', payload)));
    replies.forEach((reply, i) => expect({ status: reply.status, body: reply.body }).toEqual({ status: 400, body: cases[i]![1] }));
    // A rejection applies nothing, and is published as command.rejected.
    const rejected = await eventOf(worker, replies[0]!);
    expect(rejected).toMatchObject({ type: 'command.rejected', data: { status: 400, body: cases[0]![1] } });
    expect(await auditOf(worker.knex, replies[0]!)).toEqual([]);
  });
});

describe('metric.get, metric.update and metric.delete', () => {
  it('gets a metric of the environment only', async () => {
    const { send } = await tenantWithSender();
    const { send: sendElsewhere } = await tenantWithSender();
    const created = await expectStatus<{ id: number }>(send('metric.create', checkoutMetric()), 201);
    expect(await send('metric.get', { id: created.id })).toMatchObject({ status: 200, body: created });
    expect(await sendElsewhere('metric.get', { id: created.id })).toMatchObject({ status: 404, body: NOT_FOUND });
    expect(await send('metric.get', { id: 2_000_000_000 })).toMatchObject({ status: 404, body: NOT_FOUND });
    expect(await send('metric.get', {})).toMatchObject({ status: 400, body: { id: ['This field is required.'] } });
  });

  it('answers 405 to any update', async () => {
    const { send } = await tenantWithSender();
    const created = await expectStatus<{ id: number }>(send('metric.create', checkoutMetric()), 201);
    for (const payload of [{ id: created.id, name: 'Renamed' }, {}, 'anything', undefined]) {
      expect(await send('metric.update', payload)).toMatchObject({ status: 405, body: { detail: 'Metrics are immutable. Create a new metric instead.' } });
    }
    expect(await worker.knex('metrics').where({ id: created.id }).first()).toMatchObject({ name: 'Checkout conversion' });
  });

  it('soft-deletes: the row keeps deleted_at and the metric disappears from get, list and attach', async () => {
    const { tenant, send } = await tenantWithSender();
    const created = await expectStatus<{ id: number }>(send('metric.create', checkoutMetric()), 201);
    const reply = await send('metric.delete', { id: created.id });
    expect(reply).toMatchObject({ status: 204, body: null });
    expect(await eventOf(worker, reply)).toMatchObject({ type: 'metric.deleted', data: created });
    expect(await auditOf(worker.knex, reply)).toMatchObject([{ action: 'delete', resource_type: 'metric', resource_id: String(created.id), before: created, after: null }]);
    expect((await worker.knex('metrics').where({ id: created.id }).first()).deleted_at).toBeInstanceOf(Date);

    expect(await send('metric.get', { id: created.id })).toMatchObject({ status: 404, body: NOT_FOUND });
    expect(await send('metric.delete', { id: created.id })).toMatchObject({ status: 404, body: NOT_FOUND });
    expect(await send('metric.list', {})).toMatchObject({ status: 200, body: { count: 0, results: [] } });
    const experiment = await expectStatus<{ id: number }>(send('experiment.create', { featureId: tenant.featureId, name: 'E', hypothesis: 'H' }), 201);
    expect(await send('experiment.metric.attach', { experimentId: experiment.id, metricId: created.id, expectedDirection: 'increase' })).toMatchObject({
      status: 400,
      body: { metricId: [`Invalid pk "${created.id}" - object does not exist.`] },
    });
  });

  it('refuses to delete a metric attached to an active experiment, until it is completed or deleted', async () => {
    const { tenant, send } = await tenantWithSender();
    const metric = await expectStatus<{ id: number }>(send('metric.create', checkoutMetric()), 201);
    const other = await expectStatus<{ id: number }>(send('metric.create', checkoutMetric({ name: 'Other' })), 201);
    const experiment = await expectStatus<{ id: number }>(
      send('experiment.create', { featureId: tenant.featureId, name: 'Button colour', hypothesis: 'Green sells', metrics: [{ metricId: metric.id, expectedDirection: 'increase' }, { metricId: other.id, expectedDirection: 'not_decrease' }] }),
      201,
    );
    // The metric shows the live experiments it is attached to.
    expect(await send('metric.get', { id: metric.id })).toMatchObject({ body: { experiments: [{ id: experiment.id, name: 'Button colour', status: 'created' }] } });

    const blocked = { status: 409, body: { detail: 'Cannot delete a metric attached to an active experiment. Detach it or complete the experiment first.' } };
    expect(await send('metric.delete', { id: metric.id })).toMatchObject(blocked);
    await expectStatus(send('experiment.start', { id: experiment.id }), 200);
    expect(await send('metric.delete', { id: metric.id })).toMatchObject(blocked);
    await expectStatus(send('experiment.pause', { id: experiment.id }), 200);
    expect(await send('metric.delete', { id: metric.id })).toMatchObject(blocked);
    await expectStatus(send('experiment.complete', { id: experiment.id }), 200);
    expect(await send('metric.get', { id: metric.id })).toMatchObject({ body: { experiments: [{ id: experiment.id, status: 'completed' }] } });
    await expectStatus(send('metric.delete', { id: metric.id }), 204);

    // A deleted experiment does not hold its metrics either, and is no longer shown on them.
    const second = await expectStatus<{ id: number }>(send('experiment.create', { featureId: tenant.featureId, name: 'Second', hypothesis: '', metrics: [{ metricId: other.id, expectedDirection: 'increase' }] }), 201);
    expect(await send('metric.delete', { id: other.id })).toMatchObject(blocked);
    await expectStatus(send('experiment.delete', { id: second.id }), 204);
    expect(await send('metric.get', { id: other.id })).toMatchObject({ body: { experiments: [{ id: experiment.id, status: 'completed' }] } });
    await expectStatus(send('metric.delete', { id: other.id }), 204);
  });
});

describe('metric.list', () => {
  it('lists live metrics newest first, pages them, filters by q case-insensitively', async () => {
    const { send } = await tenantWithSender();
    const { send: sendElsewhere } = await tenantWithSender();
    await expectStatus(sendElsewhere('metric.create', checkoutMetric({ name: 'Checkout elsewhere' })), 201);
    const names = ['Checkout conversion', 'Revenue', 'checkout value', 'Bounce rate', '100%_done'];
    const created: { id: number; name: string }[] = [];
    for (const name of names) created.push(await expectStatus(send('metric.create', checkoutMetric({ name })), 201));
    const deleted = await expectStatus<{ id: number }>(send('metric.create', checkoutMetric({ name: 'Checkout deleted' })), 201);
    await expectStatus(send('metric.delete', { id: deleted.id }), 204);

    const all = await expectStatus<{ count: number; page: number; pageSize: number; results: { name: string }[] }>(send('metric.list', {}), 200);
    expect(all).toMatchObject({ count: 5, page: 1, pageSize: 100 });
    expect(all.results.map((m) => m.name)).toEqual([...names].reverse());
    expect(all.results[0]).toEqual(created[4]);

    const page2 = await expectStatus<typeof all>(send('metric.list', { page: 2, pageSize: 2 }), 200);
    expect(page2).toMatchObject({ count: 5, page: 2, pageSize: 2 });
    expect(page2.results.map((m) => m.name)).toEqual(['checkout value', 'Revenue']);
    expect(await send('metric.list', { page: 4, pageSize: 2 })).toMatchObject({ status: 200, body: { count: 5, results: [] } });

    const q = await expectStatus<typeof all>(send('metric.list', { q: 'CHECKOUT' }), 200);
    expect(q.count).toBe(2);
    expect(q.results.map((m) => m.name)).toEqual(['checkout value', 'Checkout conversion']);
    // LIKE wildcards in q are taken literally.
    const literal = await expectStatus<typeof all>(send('metric.list', { q: '%_' }), 200);
    expect(literal.results.map((m) => m.name)).toEqual(['100%_done']);
  });

  it('answers paging outside the range with field errors', async () => {
    const { send } = await tenantWithSender();
    expect(await send('metric.list', { pageSize: 1000 })).toMatchObject({ status: 400, body: { pageSize: ['Ensure this value is less than or equal to 999.'] } });
    expect(await send('metric.list', { pageSize: 0, page: 0 })).toMatchObject({
      status: 400,
      body: { page: ['Ensure this value is greater than or equal to 1.'], pageSize: ['Ensure this value is greater than or equal to 1.'] },
    });
    expect(await send('metric.list', { pageSize: 999 })).toMatchObject({ status: 200, body: { pageSize: 999 } });
  });
});
