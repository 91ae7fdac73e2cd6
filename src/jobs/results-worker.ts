import { DelayedError, Worker, type ConnectionOptions, type Job, type Queue } from 'bullmq';
import { computeJobId, computeJobSchema } from '../contracts/results.js';
import { COMPUTE_ATTEMPTS, computeRetryDelayMs } from '../domain/results-rules.js';
import { isTransientError } from '../domain/retry.js';
import { computeResults, describeError, recordResultsFailure, type ComputeOutcome } from '../results/compute-results.js';
import type { ResultsConfig, ResultsDeps } from '../results/deps.js';
import { enqueueScheduledComputes, type EnqueueComputes } from '../results/schedule.js';
import { runTrackingMaintenance } from '../results/tracking-maintenance.js';
import { PartitionManager } from '../results/tracking-store.js';
import { QUEUE_NAMES, createRedis } from './queues.js';
import { queueTelemetry } from './queue-telemetry.js';
import type { Metrics, ResultsOutcome } from '../metrics.js';

// The results queue's worker: `compute` (one experiment's results), `schedule` (queue a compute for every running
// experiment, every RESULTS_SCHEDULE_INTERVAL_S) and `tracking-maintenance` (partitions ahead, retention). The
// work itself is in src/results/; this file adapts it to BullMQ.

export const SCHEDULE_JOB = 'schedule';
export const MAINTENANCE_JOB = 'tracking-maintenance';
const SCHEDULER_ID = 'results-schedule';
const MAINTENANCE_SCHEDULER_ID = 'tracking-maintenance';
const MAINTENANCE_EVERY_MS = 3600_000;
/** Jobs per addBulk call (one Redis request each): bounds the size of a request when many experiments are due. */
const ADD_BULK_MAX = 500;

/** Queues compute jobs on `queue`, with the per-experiment job id that keeps a second one out while one is queued or running. */
export function computeEnqueuer(queue: Queue): EnqueueComputes {
  return async (experimentIds) => {
    for (let i = 0; i < experimentIds.length; i += ADD_BULK_MAX) {
      await queue.addBulk(experimentIds.slice(i, i + ADD_BULK_MAX).map((id) => ({ name: 'compute', data: { experimentId: id }, opts: { jobId: computeJobId(id) } })));
    }
  };
}

/**
 * Installs (or updates) the repeatable jobs: the results schedule and the tracking maintenance. With
 * `onlyMissing` (the reconciler, after Redis lost its data) it installs only those that are gone.
 */
export async function installSchedules(queue: Queue, config: ResultsConfig, options: { onlyMissing?: boolean } = {}): Promise<void> {
  const wanted = async (id: string) => !options.onlyMissing || !(await queue.getJobScheduler(id));
  if (config.RESULTS_SCHEDULE_INTERVAL_S > 0) {
    if (await wanted(SCHEDULER_ID)) await queue.upsertJobScheduler(SCHEDULER_ID, { every: config.RESULTS_SCHEDULE_INTERVAL_S * 1000 }, { name: SCHEDULE_JOB, data: {} });
  } else if (!options.onlyMissing) {
    await queue.removeJobScheduler(SCHEDULER_ID);
  }
  if (!(await wanted(MAINTENANCE_SCHEDULER_ID))) return;
  await queue.upsertJobScheduler(MAINTENANCE_SCHEDULER_ID, { every: MAINTENANCE_EVERY_MS }, { name: MAINTENANCE_JOB, data: {} });
}

export interface ResultsWorkerOptions extends ResultsDeps {
  redisUrl: string;
  prefix: string;
  queue: Queue;
  partitions?: PartitionManager;
  /** Base of the retry backoff of compute jobs (ms). */
  retryBaseMs?: number;
  /** The computation (tests replace it to fail on purpose). */
  compute?: (deps: ResultsDeps, experimentId: number) => Promise<ComputeOutcome>;
  concurrency?: number;
  /** Where compute times are recorded (expw_results_compute_seconds). */
  metrics?: Pick<Metrics, 'resultsCompute'>;
}

/**
 * The BullMQ worker of the results queue. A compute that fails transiently is put back as delayed (the same job id,
 * so a refresh meanwhile is still deduplicated) with capped exponential backoff, up to COMPUTE_ATTEMPTS runs; any
 * other failure, or the last attempt's, is recorded (recordResultsFailure). Finished jobs are removed, completed
 * or failed, so that the per-experiment job id is free for the next refresh.
 */
export function startResultsWorker(options: ResultsWorkerOptions): Worker {
  const { logger } = options;
  const partitions = options.partitions ?? new PartitionManager(options.knex);
  const worker = new Worker(
    QUEUE_NAMES.results,
    async (job: Job, token?: string) => {
      switch (job.name) {
        case 'compute':
          return runCompute(options, job, token);
        case SCHEDULE_JOB: {
          const queued = await enqueueScheduledComputes(options, computeEnqueuer(options.queue));
          logger.info({ queued }, 'scheduled results computations queued');
          return { queued };
        }
        case MAINTENANCE_JOB:
          return runTrackingMaintenance(options, partitions);
        default:
          logger.warn({ name: job.name, id: job.id }, 'unknown job on the results queue; dropped');
          return { ignored: true };
      }
    },
    {
      connection: createRedis(options.redisUrl, 'worker') as ConnectionOptions,
      ...queueTelemetry(),
      prefix: options.prefix,
      concurrency: options.concurrency ?? 2,
      // The 1M-identity query runs for seconds: keep the lock well ahead of it.
      lockDuration: 60_000,
      removeOnComplete: { count: 0 },
      removeOnFail: { count: 0 },
    },
  );
  worker.on('failed', (job, err) => logger.error({ name: job?.name, id: job?.id, err }, 'results job failed'));
  worker.on('error', (err) => logger.error({ err }, 'results worker error'));
  return worker;
}

async function runCompute(options: ResultsWorkerOptions, job: Job, token: string | undefined): Promise<unknown> {
  const { logger } = options;
  const parsed = computeJobSchema.safeParse(job.data);
  if (!parsed.success) {
    logger.warn({ id: job.id, data: job.data }, 'malformed compute job; dropped');
    return { ignored: true };
  }
  const { experimentId } = parsed.data;
  const attempt = (parsed.data.attempt ?? 0) + 1;
  const timer = options.metrics?.resultsCompute.startTimer();
  try {
    const outcome = await (options.compute ?? computeResults)(options, experimentId);
    timer?.({ outcome: outcome.kind satisfies ResultsOutcome });
    if (outcome.kind === 'computed') {
      logger.info({ experimentId, attempt, ...outcome.timings, isFinal: outcome.view.isFinal }, 'results computed');
    } else {
      logger.info({ experimentId, reason: outcome.reason }, 'results computation skipped');
    }
    return { outcome: outcome.kind };
  } catch (error) {
    timer?.({ outcome: 'error' satisfies ResultsOutcome });
    if (isTransientError(error) && attempt < COMPUTE_ATTEMPTS && token) {
      const delay = computeRetryDelayMs(attempt, options.retryBaseMs);
      logger.warn({ experimentId, attempt, delayMs: delay, error: describeError(error) }, 'results computation failed; trying again later');
      await job.updateData({ ...parsed.data, attempt });
      await job.moveToDelayed(Date.now() + delay, token);
      throw new DelayedError();
    }
    logger.error({ experimentId, attempt, error: describeError(error), stack: (error as Error)?.stack?.split('\n').slice(-6).join('\n') }, 'results computation failed; recording the failure');
    await recordResultsFailure(options, experimentId, error);
    return { outcome: 'failed' };
  }
}
