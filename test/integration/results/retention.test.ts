import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupTenant, startTestWorker, type TestWorker } from '../harness.js';
import { createLogger } from '../../../src/logger.js';
import { DAY_MS } from '../../../src/domain/tracking-retention.js';
import { runTrackingMaintenance } from '../../../src/results/tracking-maintenance.js';
import { PartitionManager, dayStart, insertRows } from '../../../src/results/tracking-store.js';
import { commandSender, experimentInState } from './helpers.js';

// DOMAIN.md "Results", retention, against the real database: old daily partitions of tracking_events are
// dropped only when no live experiment still needs them (its window or CUPED lookback), whatever their age.

describe('tracking retention', () => {
  let worker: TestWorker;
  const experimentIds: number[] = [];
  const now = new Date();
  const daysAgo = (n: number) => dayStart(now) - n * DAY_MS;
  const noonDaysAgo = (n: number) => new Date(daysAgo(n) + DAY_MS / 2);
  const oldDays = [400, 320, 305, 290, 250, 225, 224, 200];

  beforeAll(async () => {
    worker = await startTestWorker();
  });
  afterAll(async () => {
    // Experiments with windows in the past would hold old partitions for the next test files.
    if (experimentIds.length) await worker?.knex('experiments').whereIn('id', experimentIds).update({ deleted_at: new Date() });
    await worker?.stop();
  });

  const maintain = () =>
    runTrackingMaintenance(
      { knex: worker.knex, config: { ...worker.config, TRACKING_RETENTION_DAYS: 180, CUPED_LOOKBACK_DAYS: 14 }, logger: createLogger('silent') },
      new PartitionManager(worker.knex),
      now,
    );
  const remainingOldDays = async () => {
    const existing = new Set(await new PartitionManager(worker.knex).existing());
    return oldDays.filter((n) => existing.has(daysAgo(n)));
  };

  it('keeps the partitions live experiments still need, drops the others past retention', async () => {
    const tenant = await setupTenant(worker.client);
    const send = commandSender(worker.client, tenant.environment, tenant.admin);
    const stored = async (state: Parameters<typeof experimentInState>[3]) => {
      const id = await experimentInState(worker.knex, send, tenant.featureId, state);
      experimentIds.push(id);
      return id;
    };
    // Completed without final results: needs its window and the 14-day lookback, 314 to 292 days ago.
    const unfinished = await stored({ status: 'completed', startedAt: noonDaysAgo(300), endedAt: noonDaysAgo(292) });
    await worker.knex('experiment_results').insert({ experiment_id: unfinished, as_of: noonDaysAgo(295), is_final: false });
    // Completed with final results, and deleted: they need nothing.
    const finished = await stored({ status: 'completed', startedAt: noonDaysAgo(255), endedAt: noonDaysAgo(245) });
    await worker.knex('experiment_results').insert({ experiment_id: finished, as_of: noonDaysAgo(245), is_final: true });
    await stored({ status: 'running', startedAt: noonDaysAgo(260), deletedAt: noonDaysAgo(1) });
    // Running: needs everything from 224 days ago (its lookback) on, past retention or not.
    const running = await stored({ status: 'running', startedAt: noonDaysAgo(210) });

    const partitions = new PartitionManager(worker.knex);
    await partitions.ensure(oldDays.map(daysAgo));
    const environmentId = Number((await worker.knex('environments').where('key', tenant.environment).first('id')).id);
    await insertRows(worker.knex, [
      { environmentId, event: 'purchase', identifier: 'old-buyer', feature: null, valueText: null, valueNum: 5, occurredAt: noonDaysAgo(200) },
    ]);

    await maintain();
    expect(await remainingOldDays()).toEqual([305, 224, 200]);
    expect(await worker.knex('tracking_events').where({ environment_id: environmentId, identifier: 'old-buyer' }).pluck('value_num')).toEqual([5]);

    // Final results for the completed one, and the running one deleted: nothing is needed any more.
    await worker.knex('experiment_results').where('experiment_id', unfinished).update({ as_of: noonDaysAgo(292), is_final: true });
    await worker.knex('experiments').where('id', running).update({ deleted_at: new Date() });
    await maintain();
    expect(await remainingOldDays()).toEqual([]);
  });

  it('keeps a paused experiment\'s window as it keeps a running one\'s', async () => {
    const tenant = await setupTenant(worker.client);
    const send = commandSender(worker.client, tenant.environment, tenant.admin);
    const paused = await experimentInState(worker.knex, send, tenant.featureId, { status: 'paused', startedAt: noonDaysAgo(200) });
    experimentIds.push(paused);
    await new PartitionManager(worker.knex).ensure([daysAgo(250), daysAgo(214), daysAgo(190)]);
    await maintain();
    expect(await remainingOldDays()).toEqual([]); // 250 went; 214 and 190 are not in oldDays
    const existing = await new PartitionManager(worker.knex).existing();
    expect(existing).toEqual(expect.arrayContaining([daysAgo(214), daysAgo(190)]));
    await worker.knex('experiments').where('id', paused).update({ deleted_at: new Date() });
    await maintain();
    const after = await new PartitionManager(worker.knex).existing();
    expect(after).not.toContain(daysAgo(214));
    expect(after).not.toContain(daysAgo(190));
  });
});
