import { Queue, QueueEvents, type ConnectionOptions, type Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupTenant, startTestWorker, type TestWorker } from '../harness.js';
import { startResultsWorker } from '../../../src/jobs/results-worker.js';
import { computeResults, type ComputeOutcome } from '../../../src/results/compute-results.js';
import type { ResultsDeps } from '../../../src/results/deps.js';
import { createRedis } from '../../../src/jobs/queues.js';
import { createLogger } from '../../../src/logger.js';
import { ExperimentResult } from '../../../src/models/results.js';
import { commandSender, waitForResultsEvent } from './helpers.js';
import { testResourceName } from '../env.js';

// The results worker's retry policy, on the real queue: transient failures are retried with backoff under the
// same job id; the last failure is recorded. The computation is wrapped to fail on purpose (a serialization
// failure, SQLSTATE 40001) before doing the real work.

describe('results compute retries', () => {
  let worker: TestWorker;
  let queue: Queue;
  let events: QueueEvents;
  let resultsWorker: Worker | undefined;
  const prefix = testResourceName();

  beforeAll(async () => {
    worker = await startTestWorker();
    queue = new Queue('results', { connection: createRedis(worker.config.REDIS_URL, 'queue') as ConnectionOptions, prefix });
    events = new QueueEvents('results', { connection: createRedis(worker.config.REDIS_URL, 'worker') as ConnectionOptions, prefix });
    await events.waitUntilReady();
  });
  afterAll(async () => {
    await resultsWorker?.close();
    await events?.close();
    await queue?.obliterate({ force: true }).catch(() => {});
    await queue?.close();
    await worker?.stop();
  });

  const startedExperiment = async () => {
    const tenant = await setupTenant(worker.client);
    const send = commandSender(worker.client, tenant.environment, tenant.admin);
    const id = ((await send('experiment.create', { featureId: tenant.featureId, name: 'retries', hypothesis: 'h' })).body as { id: number }).id;
    expect((await send('experiment.start', { id })).status).toBe(200);
    return id;
  };

  const failing = (failures: number, calls: number[]) => async (deps: ResultsDeps, experimentId: number): Promise<ComputeOutcome> => {
    calls.push(Date.now());
    if (calls.length <= failures) throw Object.assign(new Error('could not serialize access due to concurrent update'), { code: '40001' });
    return computeResults(deps, experimentId);
  };

  const run = (compute: (deps: ResultsDeps, id: number) => Promise<ComputeOutcome>) => {
    resultsWorker = startResultsWorker({
      knex: worker.knex,
      config: worker.config,
      logger: createLogger('silent'),
      redisUrl: worker.config.REDIS_URL,
      prefix,
      queue,
      retryBaseMs: 50,
      compute,
    });
  };

  it('retries a transient failure under the same job id, then computes', async () => {
    const id = await startedExperiment();
    const calls: number[] = [];
    run(failing(2, calls));
    const since = new Date().toISOString();
    await queue.add('compute', { experimentId: id }, { jobId: `results-${id}` });
    await waitForResultsEvent(worker.client, 'experiment.results.computed', id, since);
    expect(calls).toHaveLength(3);
    expect(calls[1]! - calls[0]!).toBeGreaterThanOrEqual(45); // 50 ms, then 100 ms
    expect(calls[2]! - calls[1]!).toBeGreaterThanOrEqual(95);
    // The finished job is removed: the id is free for the next refresh.
    await expect.poll(async () => queue.getJob(`results-${id}`)).toBeUndefined();
    const row = await ExperimentResult.query(worker.knex).where('experiment_id', id).first();
    expect(row).toMatchObject({ lastErrorAt: null, isFinal: false });
    await resultsWorker!.close();
    resultsWorker = undefined;
  });

  it('records the failure once the attempts are spent', async () => {
    const id = await startedExperiment();
    const calls: number[] = [];
    run(failing(100, calls));
    const since = new Date().toISOString();
    await queue.add('compute', { experimentId: id }, { jobId: `results-${id}` });
    const failed = await waitForResultsEvent(worker.client, 'experiment.results.failed', id, since);
    expect(calls).toHaveLength(5);
    expect(failed.data).toMatchObject({ experimentId: id, asOf: null, payload: null, error: 'could not serialize access due to concurrent update' });
    const row = await ExperimentResult.query(worker.knex).where('experiment_id', id).first();
    expect(row?.lastErrorAt).toBeInstanceOf(Date);
    expect(row?.lastError).toBe('could not serialize access due to concurrent update');
    await expect.poll(async () => queue.getJob(`results-${id}`)).toBeUndefined();
  });
});
