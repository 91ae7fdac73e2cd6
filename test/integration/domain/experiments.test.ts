import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupTenant, startTestWorker, type Tenant, type TestWorker } from '../harness.js';
import { auditOf, checkoutMetric, eventOf, expectStatus, isoString, NOT_FOUND, sender, type Send } from './commands.js';

let worker: TestWorker;
beforeAll(async () => {
  worker = await startTestWorker();
});
afterAll(() => worker?.stop());

interface Experiment {
  id: number;
  status: string;
  startedAt: string | null;
  endedAt: string | null;
  metrics: { id: number; metricId: number; expectedDirection: string }[];
  [key: string]: unknown;
}

async function tenantWithMetrics(count = 2): Promise<{ tenant: Tenant; send: Send; metrics: { id: number; name: string }[] }> {
  const tenant = await setupTenant(worker.client);
  const send = sender(worker, tenant);
  const metrics = [];
  for (let i = 0; i < count; i++) metrics.push(await expectStatus(send('metric.create', checkoutMetric({ name: `Metric ${i}`, aggregation: i ? 'sum' : 'occurrence', direction: i ? 'down' : 'up' })), 201));
  return { tenant, send, metrics };
}

const newExperiment = (tenant: Tenant, overrides: Record<string, unknown> = {}) => ({
  featureId: tenant.featureId,
  name: 'Green button',
  hypothesis: 'A green button sells more',
  ...overrides,
});

/** Waits for a later command's event, then checks the client saw none for `commandId`. */
async function expectNoEvent(send: Send, commandId: string) {
  const marker = await send('metric.create', checkoutMetric({ name: 'marker' }));
  await eventOf(worker, marker);
  expect(worker.client.events.filter((e) => e.commandId === commandId)).toEqual([]);
}

describe('experiment.create', () => {
  it('creates an experiment with defaults and inline metrics, together', async () => {
    const { tenant, send, metrics } = await tenantWithMetrics();
    const reply = await send(
      'experiment.create',
      newExperiment(tenant, { metrics: [{ metricId: metrics[0]!.id, expectedDirection: 'increase' }, { metricId: metrics[1]!.id, expectedDirection: 'not_increase' }] }),
    );
    expect(reply.status).toBe(201);
    expect(reply.body).toEqual({
      id: expect.any(Number),
      uuid: expect.stringMatching(/^[0-9a-f-]{36}$/),
      featureId: tenant.featureId,
      name: 'Green button',
      hypothesis: 'A green button sells more',
      status: 'created',
      exposureEvent: '$flag_exposure',
      controlVariant: 'control',
      startedAt: null,
      endedAt: null,
      createdAt: isoString,
      updatedAt: isoString,
      metrics: [
        { id: expect.any(Number), metricId: metrics[0]!.id, metricName: 'Metric 0', aggregation: 'occurrence', direction: 'up', expectedDirection: 'increase', createdAt: isoString },
        { id: expect.any(Number), metricId: metrics[1]!.id, metricName: 'Metric 1', aggregation: 'sum', direction: 'down', expectedDirection: 'not_increase', createdAt: isoString },
      ],
    });
    const experiment = reply.body as Experiment;
    expect(await eventOf(worker, reply)).toMatchObject({ type: 'experiment.created', environment: tenant.environment, data: reply.body });
    expect(await auditOf(worker.knex, reply)).toMatchObject([
      { action: 'create', resource_type: 'experiment', resource_id: String(experiment.id), before: null, after: reply.body },
      { action: 'attach', resource_type: 'experiment_metric', resource_id: String(experiment.metrics[0]!.id), after: experiment.metrics[0] },
      { action: 'attach', resource_type: 'experiment_metric', resource_id: String(experiment.metrics[1]!.id), after: experiment.metrics[1] },
    ]);
    expect(await worker.knex('experiment_metrics').where({ experiment_id: experiment.id }).orderBy('id').pluck('metric_id')).toEqual(metrics.map((m) => m.id));
    expect(await send('experiment.get', { id: experiment.id })).toMatchObject({ status: 200, body: reply.body });

    const custom = await send('experiment.create', { ...newExperiment(tenant), featureId: tenant.featureId, exposureEvent: 'saw_button', controlVariant: 'baseline' });
    // One active experiment per feature: the first one is still active.
    expect(custom).toMatchObject({ status: 409, body: { detail: 'An active experiment already exists for this feature.' } });
  });

  it('answers field errors, and feature errors in the contract wording', async () => {
    const { tenant, send } = await tenantWithMetrics(0);
    const other = await setupTenant(worker.client);
    expect(await send('experiment.create', {})).toMatchObject({
      status: 400,
      body: { featureId: ['This field is required.'], name: ['This field is required.'], hypothesis: ['This field is required.'] },
    });
    expect(await send('experiment.create', newExperiment(tenant, { name: 'x'.repeat(256) }))).toMatchObject({ status: 400, body: { name: ['Ensure this field has no more than 255 characters.'] } });
    expect(await send('experiment.create', newExperiment(tenant, { featureId: tenant.standardFeatureId }))).toMatchObject({
      status: 400,
      body: { featureId: ['Experiments can only be created for multivariate flags.'] },
    });
    expect(await send('experiment.create', newExperiment(tenant, { featureId: other.featureId }))).toMatchObject({
      status: 400,
      body: { featureId: ["Feature does not belong to this environment's project."] },
    });
    expect(await send('experiment.create', newExperiment(tenant, { featureId: 7 }))).toMatchObject({ status: 400, body: { featureId: ['Invalid pk "7" - object does not exist.'] } });
  });

  it('applies the attach rules to inline metrics and creates nothing when one fails', async () => {
    const { tenant, send, metrics } = await tenantWithMetrics();
    const elsewhere = await tenantWithMetrics(1);
    const [m0, m1] = metrics as [{ id: number; name: string }, { id: number; name: string }];
    const cases: [unknown, unknown][] = [
      [[{ metricId: m0.id, expectedDirection: 'increase' }, { metricId: m0.id, expectedDirection: 'decrease' }], { metrics: ['Metric can only be attached once per experiment.'] }],
      [[{ metricId: m0.id, expectedDirection: 'increase' }, { metricId: 2_000_000_000, expectedDirection: 'increase' }], { 'metrics.1.metricId': ['Invalid pk "2000000000" - object does not exist.'] }],
      [[{ metricId: elsewhere.metrics[0]!.id, expectedDirection: 'increase' }], { 'metrics.0.metricId': ["Metric must belong to the experiment's environment."] }],
      [[{ metricId: m1.id, expectedDirection: 'sideways' }], { 'metrics.0.expectedDirection': ['"sideways" is not a valid choice.'] }],
      [[{ expectedDirection: 'increase' }], { 'metrics.0.metricId': ['This field is required.'] }],
    ];
    for (const [inline, body] of cases) {
      expect(await send('experiment.create', newExperiment(tenant, { metrics: inline }))).toMatchObject({ status: 400, body });
    }
    expect(await worker.knex('experiments').where({ environment_id: (await worker.knex('environments').where({ key: tenant.environment }).first()).id })).toEqual([]);
  });

  it('allows a new experiment on the feature once the active one is completed or deleted', async () => {
    const { tenant, send } = await tenantWithMetrics(0);
    const first = await expectStatus<Experiment>(send('experiment.create', newExperiment(tenant)), 201);
    expect(await send('experiment.create', newExperiment(tenant))).toMatchObject({ status: 409, body: { detail: 'An active experiment already exists for this feature.' } });
    await expectStatus(send('experiment.start', { id: first.id }), 200);
    await expectStatus(send('experiment.complete', { id: first.id }), 200);
    const second = await expectStatus<Experiment>(send('experiment.create', newExperiment(tenant)), 201);
    await expectStatus(send('experiment.delete', { id: second.id }), 204);
    await expectStatus(send('experiment.create', newExperiment(tenant)), 201);
  });
});

describe('experiment.get and experiment.update', () => {
  it('does not find experiments of another environment or deleted ones', async () => {
    const { tenant, send } = await tenantWithMetrics(0);
    const other = sender(worker, await setupTenant(worker.client));
    const experiment = await expectStatus<Experiment>(send('experiment.create', newExperiment(tenant)), 201);
    for (const [type, payload] of [
      ['experiment.get', { id: experiment.id }],
      ['experiment.update', { id: experiment.id, name: 'x' }],
      ['experiment.start', { id: experiment.id }],
      ['experiment.delete', { id: experiment.id }],
      ['experiment.metric.list', { experimentId: experiment.id }],
    ] as const) {
      expect(await other(type, payload)).toMatchObject({ status: 404, body: NOT_FOUND });
    }
    await expectStatus(send('experiment.delete', { id: experiment.id }), 204);
    expect(await send('experiment.get', { id: experiment.id })).toMatchObject({ status: 404, body: NOT_FOUND });
    expect(await send('experiment.update', { id: experiment.id, name: 'x' })).toMatchObject({ status: 404, body: NOT_FOUND });
  });

  it('changes name and hypothesis only, and a no-op update emits no event', async () => {
    const { tenant, send, metrics } = await tenantWithMetrics(1);
    const experiment = await expectStatus<Experiment>(send('experiment.create', newExperiment(tenant, { metrics: [{ metricId: metrics[0]!.id, expectedDirection: 'increase' }] })), 201);

    const reply = await send('experiment.update', { id: experiment.id, name: 'Blue button', hypothesis: 'Blue sells more' });
    expect(reply).toMatchObject({ status: 200, body: { ...experiment, name: 'Blue button', hypothesis: 'Blue sells more', updatedAt: isoString } });
    expect(await eventOf(worker, reply)).toMatchObject({ type: 'experiment.updated', data: reply.body });
    expect(await auditOf(worker.knex, reply)).toMatchObject([{ action: 'update', resource_type: 'experiment', before: experiment, after: reply.body }]);

    const noop = await send('experiment.update', { id: experiment.id, name: 'Blue button' });
    expect(noop).toMatchObject({ status: 200, body: reply.body });
    const empty = await send('experiment.update', { id: experiment.id });
    expect(empty).toMatchObject({ status: 200, body: reply.body });
    await expectNoEvent(send, noop.commandId);
    expect(await auditOf(worker.knex, noop)).toEqual([]);

    const onlyHypothesis = await send('experiment.update', { id: experiment.id, hypothesis: '' });
    expect(onlyHypothesis).toMatchObject({ status: 200, body: { name: 'Blue button', hypothesis: '' } });
  });

  it('refuses to change the feature or the metrics, after the 404 check', async () => {
    const { tenant, send } = await tenantWithMetrics(0);
    const experiment = await expectStatus<Experiment>(send('experiment.create', newExperiment(tenant)), 201);
    expect(await send('experiment.update', { id: experiment.id, featureId: tenant.featureId })).toMatchObject({
      status: 400,
      body: { featureId: ['Cannot change the feature of an existing experiment.'] },
    });
    expect(await send('experiment.update', { id: experiment.id, metrics: [] })).toMatchObject({
      status: 400,
      body: { metrics: ['Cannot change the metrics of an existing experiment.'] },
    });
    expect(await send('experiment.update', { id: experiment.id, name: '', featureId: 1, metrics: [] })).toMatchObject({
      status: 400,
      body: {
        name: ['This field may not be blank.'],
        featureId: ['Cannot change the feature of an existing experiment.'],
        metrics: ['Cannot change the metrics of an existing experiment.'],
      },
    });
    expect(await send('experiment.update', { id: 2_000_000_000, featureId: 1 })).toMatchObject({ status: 404, body: NOT_FOUND });
    expect((await worker.knex('experiments').where({ id: experiment.id }).first()).name).toBe('Green button');
  });
});

describe('experiment status', () => {
  it('moves created → running → paused → running → completed with events, audit and timestamps', async () => {
    const { tenant, send } = await tenantWithMetrics(0);
    const experiment = await expectStatus<Experiment>(send('experiment.create', newExperiment(tenant)), 201);
    const rejected = { status: 400, body: { detail: 'Unable to transition experiment status.' } };
    expect(await send('experiment.pause', { id: experiment.id })).toMatchObject(rejected);
    expect(await send('experiment.complete', { id: experiment.id })).toMatchObject(rejected);

    const started = await send('experiment.start', { id: experiment.id });
    expect(started).toMatchObject({ status: 200, body: { status: 'running', startedAt: isoString, endedAt: null } });
    const startedAt = (started.body as Experiment).startedAt;
    expect(await eventOf(worker, started)).toMatchObject({ type: 'experiment.started', data: started.body });
    expect(await auditOf(worker.knex, started)).toMatchObject([{ action: 'start', resource_type: 'experiment', before: { status: 'created' }, after: { status: 'running' } }]);
    expect(await send('experiment.start', { id: experiment.id })).toMatchObject(rejected);

    const paused = await send('experiment.pause', { id: experiment.id });
    expect(paused).toMatchObject({ status: 200, body: { status: 'paused', startedAt } });
    expect(await eventOf(worker, paused)).toMatchObject({ type: 'experiment.paused', data: paused.body });
    expect(await send('experiment.pause', { id: experiment.id })).toMatchObject(rejected);

    // Restarting keeps the first start time.
    const restarted = await send('experiment.start', { id: experiment.id });
    expect(restarted).toMatchObject({ status: 200, body: { status: 'running', startedAt } });

    const completed = await send('experiment.complete', { id: experiment.id });
    expect(completed).toMatchObject({ status: 200, body: { status: 'completed', startedAt, endedAt: isoString } });
    expect(await eventOf(worker, completed)).toMatchObject({ type: 'experiment.completed', data: completed.body });
    expect(await auditOf(worker.knex, completed)).toMatchObject([{ action: 'complete', before: { status: 'running' }, after: { status: 'completed' } }]);
    for (const type of ['experiment.start', 'experiment.pause', 'experiment.complete']) {
      expect(await send(type, { id: experiment.id })).toMatchObject(rejected);
    }
    const row = await worker.knex('experiments').where({ id: experiment.id }).first();
    expect(row).toMatchObject({ status: 'completed', started_at: new Date(startedAt!), ended_at: new Date((completed.body as Experiment).endedAt!) });
  });

  it('completes a paused experiment', async () => {
    const { tenant, send } = await tenantWithMetrics(0);
    const experiment = await expectStatus<Experiment>(send('experiment.create', newExperiment(tenant)), 201);
    await expectStatus(send('experiment.start', { id: experiment.id }), 200);
    await expectStatus(send('experiment.pause', { id: experiment.id }), 200);
    expect(await send('experiment.complete', { id: experiment.id })).toMatchObject({ status: 200, body: { status: 'completed', endedAt: isoString } });
  });
});

describe('experiment.delete', () => {
  it('refuses a running experiment and soft-deletes otherwise', async () => {
    const { tenant, send, metrics } = await tenantWithMetrics(1);
    const experiment = await expectStatus<Experiment>(send('experiment.create', newExperiment(tenant, { metrics: [{ metricId: metrics[0]!.id, expectedDirection: 'decrease' }] })), 201);
    await expectStatus(send('experiment.start', { id: experiment.id }), 200);
    expect(await send('experiment.delete', { id: experiment.id })).toMatchObject({ status: 400, body: { detail: 'Cannot delete a running experiment. Pause or complete it first.' } });
    const paused = await expectStatus<Experiment>(send('experiment.pause', { id: experiment.id }), 200);

    const reply = await send('experiment.delete', { id: experiment.id });
    expect(reply).toMatchObject({ status: 204, body: null });
    expect(await eventOf(worker, reply)).toMatchObject({ type: 'experiment.deleted', data: paused });
    expect(await auditOf(worker.knex, reply)).toMatchObject([{ action: 'delete', resource_type: 'experiment', resource_id: String(experiment.id), before: paused, after: null }]);
    const row = await worker.knex('experiments').where({ id: experiment.id }).first();
    expect(row.deleted_at).toBeInstanceOf(Date);
    expect(await send('experiment.delete', { id: experiment.id })).toMatchObject({ status: 404, body: NOT_FOUND });
    expect(await send('experiment.list', {})).toMatchObject({ body: { count: 0, results: [] } });
    expect(await send('experiment.metric.attach', { experimentId: experiment.id, metricId: metrics[0]!.id, expectedDirection: 'increase' })).toMatchObject({ status: 404, body: NOT_FOUND });
  });
});

describe('experiment.list', () => {
  it('lists newest first with q, status filter, statusCounts and paging', async () => {
    const tenant = await setupTenant(worker.client);
    const send = sender(worker, tenant);
    // Features of the tenant's project, so each experiment can stay active.
    const featureIds = [tenant.featureId];
    for (const name of ['pricing_page', 'search_ranking']) {
      const id = tenant.featureId + featureIds.length;
      await expectStatus(worker.client.send({ type: 'feature.upsert', payload: { id, projectId: tenant.projectId, name: `${name}_${id}`, type: 'MULTIVARIATE', variants: [] } }), 200);
      featureIds.push(id);
    }
    const a = await expectStatus<Experiment>(send('experiment.create', newExperiment(tenant, { name: 'Alpha checkout', featureId: featureIds[0] })), 201);
    const b = await expectStatus<Experiment>(send('experiment.create', newExperiment(tenant, { name: 'Beta', featureId: featureIds[1] })), 201);
    const c = await expectStatus<Experiment>(send('experiment.create', newExperiment(tenant, { name: 'Gamma', featureId: featureIds[2] })), 201);
    await expectStatus(send('experiment.start', { id: b.id }), 200);
    await expectStatus(send('experiment.start', { id: c.id }), 200);
    await expectStatus(send('experiment.complete', { id: c.id }), 200);
    const d = await expectStatus<Experiment>(send('experiment.create', newExperiment(tenant, { name: 'Delta', featureId: featureIds[2] })), 201);

    const all = await expectStatus<{ count: number; results: Experiment[]; statusCounts: unknown }>(send('experiment.list', {}), 200);
    expect(all).toMatchObject({ count: 4, page: 1, pageSize: 100, statusCounts: { created: 2, running: 1, paused: 0, completed: 1 } });
    expect(all.results.map((e) => e.id)).toEqual([d.id, c.id, b.id, a.id]);
    expect(all.results[0]).toEqual(d);

    const running = await expectStatus<typeof all>(send('experiment.list', { status: 'running' }), 200);
    expect(running).toMatchObject({ count: 1, statusCounts: { created: 2, running: 1, paused: 0, completed: 1 } });
    const several = await expectStatus<typeof all>(send('experiment.list', { status: ['created', 'completed'] }), 200);
    expect(several.results.map((e) => e.id)).toEqual([d.id, c.id, a.id]);

    // q matches the experiment name or the feature name; statusCounts follow q.
    const byName = await expectStatus<typeof all>(send('experiment.list', { q: 'CHECKOUT' }), 200);
    expect(byName.results.map((e) => e.id)).toEqual([a.id]);
    const byFeature = await expectStatus<typeof all>(send('experiment.list', { q: 'search_rank', status: ['created'] }), 200);
    expect(byFeature).toMatchObject({ count: 1, statusCounts: { created: 1, running: 0, paused: 0, completed: 1 } });
    expect(byFeature.results.map((e) => e.id)).toEqual([d.id]);

    const page = await expectStatus<typeof all>(send('experiment.list', { page: 2, pageSize: 3 }), 200);
    expect(page).toMatchObject({ count: 4, page: 2, pageSize: 3 });
    expect(page.results.map((e) => e.id)).toEqual([a.id]);

    expect(await send('experiment.list', { status: ['running', 'X'] })).toMatchObject({ status: 400, body: { status: ["Invalid status 'X'."] } });
    expect(await send('experiment.list', { pageSize: 1000 })).toMatchObject({ status: 400, body: { pageSize: ['Ensure this value is less than or equal to 999.'] } });
  });
});

describe('attached metrics', () => {
  it('attaches, gets, lists, updates and detaches with events and audit', async () => {
    const { tenant, send, metrics } = await tenantWithMetrics(2);
    const [m0, m1] = metrics as [{ id: number; name: string }, { id: number; name: string }];
    const experiment = await expectStatus<Experiment>(send('experiment.create', newExperiment(tenant, { metrics: [{ metricId: m0.id, expectedDirection: 'increase' }] })), 201);

    const attached = await send('experiment.metric.attach', { experimentId: experiment.id, metricId: m1.id, expectedDirection: 'not_decrease' });
    expect(attached.status).toBe(201);
    expect(attached.body).toEqual({
      id: expect.any(Number),
      metricId: m1.id,
      metricName: 'Metric 1',
      aggregation: 'sum',
      direction: 'down',
      expectedDirection: 'not_decrease',
      createdAt: isoString,
    });
    const attachment = attached.body as { id: number };
    expect(await eventOf(worker, attached)).toMatchObject({ type: 'experiment.metric.attached', data: attached.body });
    expect(await auditOf(worker.knex, attached)).toMatchObject([{ action: 'attach', resource_type: 'experiment_metric', resource_id: String(attachment.id), before: null, after: attached.body }]);

    expect(await send('experiment.metric.get', { experimentId: experiment.id, id: attachment.id })).toMatchObject({ status: 200, body: attached.body });
    const list = await send('experiment.metric.list', { experimentId: experiment.id });
    expect(list).toMatchObject({ status: 200, body: [experiment.metrics[0], attached.body] });
    expect(await send('experiment.get', { id: experiment.id })).toMatchObject({ body: { metrics: [experiment.metrics[0], attached.body] } });
    expect(await send('metric.get', { id: m1.id })).toMatchObject({ body: { experiments: [{ id: experiment.id, name: 'Green button', status: 'created' }] } });

    const updated = await send('experiment.metric.update', { experimentId: experiment.id, id: attachment.id, expectedDirection: 'decrease' });
    expect(updated).toMatchObject({ status: 200, body: { ...attachment, expectedDirection: 'decrease' } });
    expect(await eventOf(worker, updated)).toMatchObject({ type: 'experiment.metric.updated', data: updated.body });
    expect(await auditOf(worker.knex, updated)).toMatchObject([{ action: 'update', before: attached.body, after: updated.body }]);
    const sameAgain = await send('experiment.metric.update', { experimentId: experiment.id, id: attachment.id, expectedDirection: 'decrease' });
    expect(sameAgain).toMatchObject({ status: 200, body: updated.body });
    await expectNoEvent(send, sameAgain.commandId);

    const detached = await send('experiment.metric.detach', { experimentId: experiment.id, id: attachment.id });
    expect(detached).toMatchObject({ status: 204, body: null });
    expect(await eventOf(worker, detached)).toMatchObject({ type: 'experiment.metric.detached', data: updated.body });
    expect(await auditOf(worker.knex, detached)).toMatchObject([{ action: 'detach', before: updated.body, after: null }]);
    expect(await worker.knex('experiment_metrics').where({ id: attachment.id })).toEqual([]);
    for (const [type, payload] of [
      ['experiment.metric.get', { experimentId: experiment.id, id: attachment.id }],
      ['experiment.metric.update', { experimentId: experiment.id, id: attachment.id, expectedDirection: 'increase' }],
      ['experiment.metric.detach', { experimentId: experiment.id, id: attachment.id }],
    ] as const) {
      expect(await send(type, payload)).toMatchObject({ status: 404, body: NOT_FOUND });
    }
    // Detached, it can be attached again.
    await expectStatus(send('experiment.metric.attach', { experimentId: experiment.id, metricId: m1.id, expectedDirection: 'increase' }), 201);
  });

  it('checks attach in order: experiment, fields, completed, environment, already attached', async () => {
    const { tenant, send, metrics } = await tenantWithMetrics(2);
    const elsewhere = await tenantWithMetrics(1);
    const foreignMetric = elsewhere.metrics[0]!.id;
    const [m0, m1] = metrics as [{ id: number; name: string }, { id: number; name: string }];
    const experiment = await expectStatus<Experiment>(send('experiment.create', newExperiment(tenant, { metrics: [{ metricId: m0.id, expectedDirection: 'increase' }] })), 201);
    const attach = (payload: Record<string, unknown>) => send('experiment.metric.attach', { experimentId: experiment.id, ...payload });

    // Unknown experiment before field errors.
    expect(await send('experiment.metric.attach', { experimentId: 2_000_000_000, metricId: 'x' })).toMatchObject({ status: 404, body: NOT_FOUND });
    expect(await attach({ metricId: 'x', expectedDirection: 'increase' })).toMatchObject({ status: 400, body: { metricId: ['A valid integer is required.'] } });
    expect(await attach({})).toMatchObject({ status: 400, body: { metricId: ['This field is required.'], expectedDirection: ['This field is required.'] } });
    expect(await attach({ metricId: 2_000_000_000, expectedDirection: 'up' })).toMatchObject({
      status: 400,
      body: { metricId: ['Invalid pk "2000000000" - object does not exist.'], expectedDirection: ['"up" is not a valid choice.'] },
    });
    expect(await attach({ metricId: foreignMetric, expectedDirection: 'increase' })).toMatchObject({ status: 400, body: { metricId: ["Metric must belong to the experiment's environment."] } });
    expect(await attach({ metricId: m0.id, expectedDirection: 'decrease' })).toMatchObject({ status: 400, body: { metricId: ['Metric is already attached to this experiment.'] } });

    await expectStatus(send('experiment.start', { id: experiment.id }), 200);
    await expectStatus(send('experiment.complete', { id: experiment.id }), 200);
    const completed = { status: 400, body: { nonFieldErrors: ['Cannot modify metrics of a completed experiment.'] } };
    // Field errors still come first; the completed experiment comes before the metric's environment.
    expect(await attach({ metricId: 2_000_000_000, expectedDirection: 'increase' })).toMatchObject({ status: 400, body: { metricId: ['Invalid pk "2000000000" - object does not exist.'] } });
    expect(await attach({ metricId: m1.id, expectedDirection: 'increase' })).toMatchObject(completed);
    expect(await attach({ metricId: foreignMetric, expectedDirection: 'increase' })).toMatchObject(completed);
    const attachmentId = experiment.metrics[0]!.id;
    expect(await send('experiment.metric.update', { experimentId: experiment.id, id: attachmentId, expectedDirection: 'sideways' })).toMatchObject({
      status: 400,
      body: { expectedDirection: ['"sideways" is not a valid choice.'] },
    });
    expect(await send('experiment.metric.update', { experimentId: experiment.id, id: attachmentId, expectedDirection: 'decrease' })).toMatchObject(completed);
    expect(await send('experiment.metric.detach', { experimentId: experiment.id, id: attachmentId })).toMatchObject({
      status: 400,
      body: { detail: 'Cannot detach metrics from a completed experiment.' },
    });
    // Reading still works on a completed experiment.
    expect(await send('experiment.metric.get', { experimentId: experiment.id, id: attachmentId })).toMatchObject({ status: 200, body: experiment.metrics[0] });
  });

  it('does not find an attachment through another experiment', async () => {
    const tenant = await setupTenant(worker.client);
    const send = sender(worker, tenant);
    const metric = await expectStatus<{ id: number }>(send('metric.create', checkoutMetric()), 201);
    const first = await expectStatus<Experiment>(send('experiment.create', newExperiment(tenant, { metrics: [{ metricId: metric.id, expectedDirection: 'increase' }] })), 201);
    await expectStatus(send('experiment.delete', { id: first.id }), 204);
    const second = await expectStatus<Experiment>(send('experiment.create', newExperiment(tenant)), 201);
    const id = first.metrics[0]!.id;
    expect(await send('experiment.metric.get', { experimentId: second.id, id })).toMatchObject({ status: 404, body: NOT_FOUND });
    expect(await send('experiment.metric.get', { experimentId: first.id, id })).toMatchObject({ status: 404, body: NOT_FOUND });
    expect(await send('experiment.metric.list', { experimentId: second.id })).toMatchObject({ status: 200, body: [] });
  });
});
