import type { Consumer, Kafka, Producer } from 'kafkajs';
import type { Worker } from 'bullmq';
import type { Knex } from 'knex';
import type { Config } from './config.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import type { Queues } from './jobs/queues.js';
import { createKnex } from './db.js';
import { startTrackingConsumer } from './transport/tracking-consumer.js';
import { installSchedules, startResultsWorker } from './jobs/results-worker.js';
import { RESULTS_QUERY_PARTS } from './results/results-query.js';
import { PartitionManager } from './results/tracking-store.js';
import { publishTracing } from './telemetry/tracing.js';

export interface BackgroundDeps {
  config: Config;
  logger: Logger;
  metrics: Metrics;
  kafka: Kafka;
  queues: Queues;
  producer: Producer;
  isStopping: () => boolean;
}

// Each component has a pool of its own, so that results computations (long queries, several connections each)
// and tracking ingestion cannot take the connections commands need.
/** Results jobs run at once. */
const RESULTS_CONCURRENCY = 2;
/**
 * A results query holds RESULTS_QUERY_PARTS + 1 connections at once (the transaction exporting the snapshot and
 * one per part): with fewer in the pool, two computes can each hold a lead and wait on each other until the
 * acquire timeout fails both.
 */
const RESULTS_POOL_MAX = RESULTS_CONCURRENCY * (RESULTS_QUERY_PARTS + 1);
/** The tracking consumer writes one chunk per partition at a time (TOPIC_PARTITIONS at once); more wait briefly. */
const TRACKING_POOL_MAX = 4;

/**
 * Results side of the worker (issue 5): the tracking consumer (tracking topic → tracking_events), the results
 * queue's worker (compute, schedule, tracking maintenance) and the repeatable jobs that drive it (a compute of
 * every running experiment every RESULTS_SCHEDULE_INTERVAL_S; partitions ahead and retention every hour).
 * The app closes the returned workers; `stop` disconnects the tracking consumer (leaving a batch in progress
 * uncommitted), closes the results worker (closing twice is harmless) and then the two pools.
 */
export async function backgroundJobs(deps: BackgroundDeps): Promise<{ workers: Worker[]; trackingConsumerUp(): boolean; stop(): Promise<void> }> {
  const { config, logger, metrics, kafka, queues, producer, isStopping } = deps;
  const resultsLogger = logger.child({ component: 'results' });
  const trackingLogger = logger.child({ component: 'tracking' });
  const resultsKnex = createKnex(config.DATABASE_URL, RESULTS_POOL_MAX, logger, { component: 'results' });
  const trackingKnex = createKnex(config.DATABASE_URL, TRACKING_POOL_MAX, logger, { component: 'tracking' });
  const destroyPools = () => Promise.all([resultsKnex.destroy(), trackingKnex.destroy()]);
  const resultsWorker = startResultsWorker({
    knex: resultsKnex,
    config,
    logger: resultsLogger,
    redisUrl: config.REDIS_URL,
    prefix: config.QUEUE_PREFIX,
    queue: queues.results,
    partitions: new PartitionManager(resultsKnex),
    concurrency: RESULTS_CONCURRENCY,
    metrics,
  });
  let consumer: Consumer | undefined;
  try {
    await installSchedules(queues.results, config);
    consumer = await startTrackingConsumer({
      kafka,
      knex: trackingKnex,
      producer,
      config,
      logger: trackingLogger,
      metrics,
      isStopping,
      partitions: new PartitionManager(trackingKnex),
      tracing: publishTracing,
    });
  } catch (error) {
    await resultsWorker.close().catch(() => {});
    await destroyPools().catch(() => {});
    throw error;
  }
  let trackingUp = true;
  consumer.on(consumer.events.CRASH, (e) => {
    logger.error({ error: e.payload.error?.message, restart: e.payload.restart }, 'tracking consumer crashed');
    if (!e.payload.restart) trackingUp = false;
  });
  return {
    workers: [resultsWorker],
    trackingConsumerUp: () => trackingUp,
    async stop() {
      try {
        await consumer?.disconnect();
        await resultsWorker.close();
      } finally {
        await destroyPools();
      }
    },
  };
}
