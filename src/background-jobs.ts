import type { Consumer, Kafka, Producer } from 'kafkajs';
import type { Worker } from 'bullmq';
import type { Knex } from 'knex';
import type { Config } from './config.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import type { Queues } from './jobs/queues.js';
import { startTrackingConsumer } from './transport/tracking-consumer.js';
import { installSchedules, startResultsWorker } from './jobs/results-worker.js';
import { PartitionManager } from './results/tracking-store.js';

export interface BackgroundDeps {
  config: Config;
  logger: Logger;
  metrics: Metrics;
  knex: Knex;
  kafka: Kafka;
  queues: Queues;
  producer: Producer;
  isStopping: () => boolean;
}

/**
 * Results side of the worker (issue 5): the tracking consumer (tracking topic → tracking_events), the results
 * queue's worker (compute, schedule, tracking maintenance) and the repeatable jobs that drive it (a compute of
 * every running experiment every RESULTS_SCHEDULE_INTERVAL_S; partitions ahead and retention every hour).
 * The app closes the returned workers; `stop` disconnects the tracking consumer (leaving a batch in progress
 * uncommitted).
 */
export async function backgroundJobs(deps: BackgroundDeps): Promise<{ workers: Worker[]; trackingConsumerUp(): boolean; stop(): Promise<void> }> {
  const { config, logger, metrics, knex, kafka, queues, producer, isStopping } = deps;
  const partitions = new PartitionManager(knex);
  const resultsWorker = startResultsWorker({
    knex,
    config,
    logger: logger.child({ component: 'results' }),
    redisUrl: config.REDIS_URL,
    prefix: config.QUEUE_PREFIX,
    queue: queues.results,
    partitions,
    metrics,
  });
  let consumer: Consumer | undefined;
  try {
    await installSchedules(queues.results, config);
    consumer = await startTrackingConsumer({
      kafka,
      knex,
      producer,
      config,
      logger: logger.child({ component: 'tracking' }),
      metrics,
      isStopping,
      partitions: new PartitionManager(knex),
    });
  } catch (error) {
    await resultsWorker.close().catch(() => {});
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
      await consumer?.disconnect();
    },
  };
}
