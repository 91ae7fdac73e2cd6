import type { Kafka, Producer } from 'kafkajs';
import type { Worker } from 'bullmq';
import type { Knex } from 'knex';
import type { Config } from './config.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import type { Queues } from './jobs/queues.js';

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

/** Results side of the worker (tracking consumer, results compute worker, schedule); see issue 5. */
export async function backgroundJobs(_deps: BackgroundDeps): Promise<{ workers: Worker[]; stop(): Promise<void> }> {
  return { workers: [], stop: async () => {} };
}
