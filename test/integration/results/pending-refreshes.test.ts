import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupTenant, startTestWorker, systemActor, type Tenant, type TestWorker } from '../harness.js';
import { pendingResultsRefreshes } from '../../../src/models/results.js';
import { commandSender, experimentInState } from './helpers.js';

// pendingResultsRefreshes: the accepted refreshes whose computation has neither been stored nor failed since,
// i.e. what a compute job lost with Redis still owes.

describe('pendingResultsRefreshes', () => {
  let worker: TestWorker;
  let tenant: Tenant;
  beforeAll(async () => {
    worker = await startTestWorker();
    tenant = await setupTenant(worker.client);
  });
  afterAll(async () => {
    await worker?.stop();
  });

  it('lists live experiments whose last refresh was neither computed nor failed since', async () => {
    const send = commandSender(worker.client, tenant.environment, tenant.admin);
    const otherFeatureId = randomInt(1_000_000, 2_000_000_000);
    const upserted = await worker.client.send({
      type: 'feature.upsert',
      actor: systemActor,
      key: String(tenant.organisationId),
      payload: { id: otherFeatureId, projectId: tenant.projectId, name: `other_${otherFeatureId}`, type: 'MULTIVARIATE', variants: [{ key: 'variant_a', percentageAllocation: 50 }] },
    });
    expect(upserted.status).toBe(200);
    const hour = 3600_000;
    const requested = new Date(Date.now() - 2 * hour);
    const before = new Date(requested.getTime() - hour);
    const after = new Date(requested.getTime() + hour);
    const completed = { status: 'completed' as const, startedAt: new Date(Date.now() - 48 * hour), endedAt: new Date(Date.now() - hour) };
    const withResults = async (featureId: number, state: Parameters<typeof experimentInState>[3], row: Record<string, unknown>) => {
      const id = await experimentInState(worker.knex, send, featureId, state);
      await worker.knex('experiment_results').insert({ experiment_id: id, ...row });
      return id;
    };

    const neverComputed = await withResults(tenant.featureId, completed, { refresh_requested_at: requested });
    const computedSince = await withResults(tenant.featureId, completed, { refresh_requested_at: requested, as_of: after });
    const computedAtRequest = await withResults(tenant.featureId, completed, { refresh_requested_at: requested, as_of: requested });
    const failedSince = await withResults(tenant.featureId, completed, { refresh_requested_at: requested, as_of: before, last_error_at: after });
    const neverRequested = await withResults(tenant.featureId, completed, { as_of: before });
    const deleted = await withResults(otherFeatureId, { ...completed, deletedAt: new Date() }, { refresh_requested_at: requested });
    const computedAndFailedBefore = await withResults(otherFeatureId, { status: 'paused', startedAt: completed.startedAt }, {
      refresh_requested_at: requested,
      as_of: before,
      last_error_at: before,
    });
    const computedBefore = await withResults(tenant.featureId, { status: 'running', startedAt: completed.startedAt }, { refresh_requested_at: requested, as_of: before });

    const pending = await pendingResultsRefreshes(worker.knex);
    const mine = [neverComputed, computedSince, computedAtRequest, failedSince, neverRequested, deleted, computedAndFailedBefore, computedBefore];
    expect(pending.filter((id) => mine.includes(id))).toEqual([neverComputed, computedAndFailedBefore, computedBefore]);
    expect(pending).toEqual([...pending].sort((a, b) => a - b));
  });
});
