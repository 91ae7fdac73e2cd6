import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupTenant, startTestWorker, type Tenant, type TestWorker } from '../harness.js';
import { checkoutMetric, expectStatus, sender, type Send } from '../domain/commands.js';

// CONTRACT.md "Sizes": each limit at its value is accepted, one past it is refused with the contract's text and
// nothing applied, and the next command works.

let worker: TestWorker;
let tenant: Tenant;
let send: Send;
beforeAll(async () => {
  worker = await startTestWorker({ COMMAND_MAX_BYTES: '65536' });
  tenant = await setupTenant(worker.client);
  send = sender(worker, tenant);
});
afterAll(() => worker?.stop());

/** A definition whose JSON is exactly `bytes` long. */
function definitionOf(bytes: number): Record<string, unknown> {
  const base = { version: 1, event: 'checkout', pad: '' };
  return { ...base, pad: 'p'.repeat(bytes - Buffer.byteLength(JSON.stringify(base))) };
}

const metricCount = async () => Number((await worker.knex('metrics').where('environment_id', worker.knex('environments').select('id').where('key', tenant.environment)).count({ n: '*' }))[0]!.n);

describe('field limits', () => {
  it('metric description and definition', async () => {
    const before = await metricCount();
    await expectStatus(send('metric.create', checkoutMetric({ description: 'd'.repeat(10_000) })), 201);
    expect((await send('metric.create', checkoutMetric({ description: 'd'.repeat(10_001) }))).body).toEqual({ description: ['Ensure this field has no more than 10000 characters.'] });
    await expectStatus(send('metric.create', checkoutMetric({ definition: definitionOf(16_384) })), 201);
    expect((await send('metric.create', checkoutMetric({ definition: definitionOf(16_385) }))).body).toEqual({ definition: ['Definition must be at most 16384 bytes.'] });
    expect(await metricCount()).toBe(before + 2);
  });

  it('experiment name, hypothesis and inline metrics', async () => {
    const metrics: { id: number }[] = [];
    for (let i = 0; i < 51; i++) metrics.push(await expectStatus<{ id: number }>(send('metric.create', checkoutMetric({ name: `m${i}` })), 201));
    const create = (fields: Record<string, unknown>) => send('experiment.create', { featureId: tenant.featureId, name: 'Checkout', hypothesis: 'h', ...fields });
    expect((await create({ name: 'n'.repeat(256) })).body).toEqual({ name: ['Ensure this field has no more than 255 characters.'] });
    expect((await create({ hypothesis: 'h'.repeat(10_001) })).body).toEqual({ hypothesis: ['Ensure this field has no more than 10000 characters.'] });
    const inline = (n: number) => metrics.slice(0, n).map((m) => ({ metricId: m.id, expectedDirection: 'increase' }));
    expect((await create({ metrics: inline(51) })).body).toEqual({ metrics: ['Ensure this field has no more than 50 elements.'] });
    expect(await worker.knex('experiments').where('feature_id', tenant.featureId).count({ n: '*' })).toEqual([{ n: 0 }]);

    const experiment = await expectStatus<{ id: number; metrics: unknown[] }>(create({ name: 'n'.repeat(255), hypothesis: 'h'.repeat(10_000), metrics: inline(50) }), 201);
    expect(experiment.metrics).toHaveLength(50);
    // The 51st attachment is refused, and the experiment keeps its 50.
    const extra = await send('experiment.metric.attach', { experimentId: experiment.id, metricId: metrics[50]!.id, expectedDirection: 'increase' });
    expect(extra).toMatchObject({ status: 400, body: { nonFieldErrors: ['An experiment can have at most 50 metrics.'] } });
    expect(await worker.knex('experiment_metrics').where('experiment_id', experiment.id).count({ n: '*' })).toEqual([{ n: 50 }]);
  });

  it('a command message over COMMAND_MAX_BYTES is answered 400 without being read, and the next one works', async () => {
    const id = randomUUID();
    const reply = await worker.client.send({ id, type: 'metric.create', environment: tenant.environment, actor: tenant.admin, payload: checkoutMetric({ description: 'd'.repeat(70_000) }) });
    expect(reply).toMatchObject({ commandId: id, status: 400, body: { detail: 'Command message is too large.' } });
    expect(await worker.knex('processed_commands').where({ command_id: id }).first()).toBeUndefined();
    await expectStatus(send('metric.create', checkoutMetric()), 201);
  });
});
