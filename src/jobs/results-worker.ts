import { randomUUID } from 'node:crypto';
import { DelayedError, Worker, type ConnectionOptions, type Job, type Queue } from 'bullmq';
import type { Knex } from 'knex';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { DomainEvent } from '../contracts/envelope.js';
import { computeJobId, computeJobSchema } from '../contracts/results.js';
import { analyzeExperiment } from '../domain/statistics/index.js';
import { COMPUTE_ATTEMPTS, computeRetryDelayMs, computedIsFinal, resultsWindow, scheduleDue } from '../domain/results-rules.js';
import { isTransientError } from '../domain/retry.js';
import { ExperimentResult, resultsView, type ResultsView } from '../models/results.js';
import { OutboxMessage } from '../models/pipeline.js';
import { loadResultsSubject, queryResultsInput, type ResultsSubject } from '../results/results-query.js';
import { PartitionManager, dayStart } from '../results/tracking-store.js';
import { QUEUE_NAMES, createRedis } from './queues.js';
import type { Metrics } from '../metrics.js';

// The results queue's worker: `compute` (one experiment's results), `schedule` (queue a compute for every running
// experiment, every RESULTS_SCHEDULE_INTERVAL_S) and `tracking-maintenance` (partitions ahead, retention).

export type ResultsConfig = Pick<
  Config,
  'EVENTS_TOPIC' | 'RESULTS_ALPHA' | 'RESULTS_CORRECTION' | 'SEQUENTIAL_TAU' | 'CUPED_LOOKBACK_DAYS' | 'RESULTS_SCHEDULE_INTERVAL_S' | 'TRACKING_RETENTION_DAYS'
>;

export interface ResultsDeps {
  knex: Knex;
  config: ResultsConfig;
  logger: Logger;
}

export const SCHEDULE_JOB = 'schedule';
export const MAINTENANCE_JOB = 'tracking-maintenance';
const SCHEDULER_ID = 'results-schedule';
const MAINTENANCE_SCHEDULER_ID = 'tracking-maintenance';
const MAINTENANCE_EVERY_MS = 3600_000;
/** Statement timeout of the results query: a runaway query fails (and is retried) rather than hold a connection forever. */
const QUERY_TIMEOUT_MS = 10 * 60_000;

export type ComputeOutcome = { kind: 'computed'; view: ResultsView; timings: { queryMs: number; statsMs: number } } | { kind: 'skipped'; reason: string };

/**
 * Computes and stores one experiment's results: the results query, the statistics, then in one transaction the
 * payload (the previous error cleared) and the `experiment.results.computed` event (outbox; its trigger wakes the relay). Skips
 * experiments that are gone or not started. Throws on failure; the caller decides on retry or recordFailure.
 */
export async function computeResults(deps: ResultsDeps, experimentId: number, now = new Date(), options: { parts?: number } = {}): Promise<ComputeOutcome> {
  const { knex, config } = deps;
  const subject = await loadResultsSubject(knex, experimentId);
  if (!subject) return { kind: 'skipped', reason: 'experiment not found' };
  const window = resultsWindow(subject.startedAt, subject.endedAt, now);
  if (!window) return { kind: 'skipped', reason: 'experiment not started' };

  const started = performance.now();
  const input = await queryResultsInput(knex, subject, window, config.CUPED_LOOKBACK_DAYS, { statementTimeoutMs: QUERY_TIMEOUT_MS, parts: options.parts });
  const queried = performance.now();
  const analysis = analyzeExperiment(input, { alpha: config.RESULTS_ALPHA, correction: config.RESULTS_CORRECTION, sequentialTau: config.SEQUENTIAL_TAU });
  const statsMs = performance.now() - queried;
  const payload = {
    srmPValue: analysis.srmPValue,
    exposures: analysis.exposures,
    window: { from: window.from.toISOString(), to: window.to.toISOString() },
    metrics: analysis.metrics,
  };
  const isFinal = computedIsFinal(subject.status, subject.endedAt, now);

  const view = await knex.transaction(async (trx) => {
    if (!(await lockLiveExperiment(trx, experimentId))) return null;
    const { rows } = await trx.raw<{ rows: Record<string, unknown>[] }>(
      `insert into experiment_results as r (experiment_id, as_of, payload, is_final, last_error_at, last_error)
       values (?, ?, ?::jsonb, ?, null, null)
       on conflict (experiment_id) do update
          set as_of = excluded.as_of, payload = excluded.payload, is_final = excluded.is_final,
              last_error_at = null, last_error = null, updated_at = now()
        where r.as_of is null or r.as_of <= excluded.as_of
       returning *`,
      [experimentId, now.toISOString(), JSON.stringify(payload), isFinal],
    );
    if (!rows[0]) return null; // a newer computation got there first
    const stored = ExperimentResult.fromDatabaseJson(rows[0]);
    const view = resultsView(stored);
    await emit(trx, config, subject, 'experiment.results.computed', { experimentId, ...view }, now);
    return view;
  });
  if (!view) return { kind: 'skipped', reason: 'experiment deleted or newer results stored' };
  return { kind: 'computed', view, timings: { queryMs: queried - started, statsMs } };
}

/**
 * Records a computation that failed for good: the last good payload stays, last_error_at/last_error are set, and
 * `experiment.results.failed` is emitted, in one transaction. False when the experiment is gone.
 */
export async function recordResultsFailure(deps: ResultsDeps, experimentId: number, error: unknown, now = new Date()): Promise<boolean> {
  const { knex, config } = deps;
  const message = describeError(error);
  const subject = await loadResultsSubject(knex, experimentId);
  if (!subject) return false;
  return knex.transaction(async (trx) => {
    if (!(await lockLiveExperiment(trx, experimentId))) return false;
    const { rows } = await trx.raw<{ rows: Record<string, unknown>[] }>(
      `insert into experiment_results as r (experiment_id, last_error_at, last_error) values (?, ?, ?)
       on conflict (experiment_id) do update set last_error_at = excluded.last_error_at, last_error = excluded.last_error, updated_at = now()
       returning *`,
      [experimentId, now.toISOString(), message],
    );
    const view = resultsView(ExperimentResult.fromDatabaseJson(rows[0]!));
    await emit(trx, config, subject, 'experiment.results.failed', { experimentId, ...view, error: message }, now);
    return true;
  });
}

/**
 * A short message for a failure: knex prefixes a database error's message with the whole statement (and its
 * bindings), which has no place in an event; the database's own message and SQLSTATE are kept.
 */
export function describeError(error: unknown): string {
  const e = error as { message?: unknown; code?: unknown; severity?: unknown } | null | undefined;
  let message = typeof e?.message === 'string' ? e.message : String(error);
  if (typeof e?.code === 'string' && typeof e?.severity === 'string') {
    const cut = message.lastIndexOf(' - ');
    message = `${cut >= 0 ? message.slice(cut + 3) : message} (SQLSTATE ${e.code})`;
  }
  return message.slice(0, 1000);
}

async function lockLiveExperiment(trx: Knex.Transaction, experimentId: number): Promise<boolean> {
  // KEY SHARE: holds off a delete of the row (environment.delete) until the results are written, without
  // blocking status changes.
  const row = await trx('experiments').where('id', experimentId).whereNull('deleted_at').forKeyShare().first('id');
  return Boolean(row);
}

async function emit(trx: Knex.Transaction, config: ResultsConfig, subject: ResultsSubject, type: string, data: unknown, now: Date): Promise<void> {
  const event: DomainEvent = {
    id: randomUUID(),
    type,
    environment: subject.environmentKey,
    occurredAt: now.toISOString(),
    commandId: null,
    actor: null,
    data,
  };
  await OutboxMessage.query(trx).insert({ topic: config.EVENTS_TOPIC, messageKey: subject.environmentKey, payload: event, headers: { 'event-type': type } });
}

/** Queues a compute for every running experiment whose results are missing or older than half the interval. */
export async function enqueueScheduledComputes(deps: ResultsDeps, queue: Queue, now = new Date()): Promise<number> {
  const rows: { id: number; as_of: Date | null }[] = await deps
    .knex('experiments as x')
    .leftJoin('experiment_results as r', 'r.experiment_id', 'x.id')
    .where('x.status', 'running')
    .whereNull('x.deleted_at')
    .whereNotNull('x.started_at')
    .select('x.id', 'r.as_of');
  const due = rows.filter((r) => scheduleDue(r.as_of, now, deps.config.RESULTS_SCHEDULE_INTERVAL_S)).map((r) => Number(r.id));
  for (let i = 0; i < due.length; i += 500) {
    await queue.addBulk(due.slice(i, i + 500).map((id) => ({ name: 'compute', data: { experimentId: id }, opts: { jobId: computeJobId(id) } })));
  }
  return due.length;
}

/** Creates today's and tomorrow's partitions ahead of the ingester and drops those past retention. */
export async function runTrackingMaintenance(deps: ResultsDeps, partitions: PartitionManager, now = new Date()): Promise<{ dropped: string[] }> {
  partitions.reset();
  await partitions.ensure([dayStart(now), dayStart(now.getTime() + 86_400_000)]);
  const dropped = await partitions.dropOlderThan(deps.config.TRACKING_RETENTION_DAYS, now);
  if (dropped.length) deps.logger.info({ dropped }, 'tracking partitions past retention dropped');
  return { dropped };
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
          const queued = await enqueueScheduledComputes(options, options.queue);
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
    timer?.({ outcome: outcome.kind });
    if (outcome.kind === 'computed') {
      logger.info({ experimentId, attempt, ...outcome.timings, isFinal: outcome.view.isFinal }, 'results computed');
    } else {
      logger.info({ experimentId, reason: outcome.reason }, 'results computation skipped');
    }
    return { outcome: outcome.kind };
  } catch (error) {
    timer?.({ outcome: 'error' });
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
