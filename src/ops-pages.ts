import type { Kafka } from 'kafkajs';
import type { Knex } from 'knex';
import type { Config } from './config.js';
import type { Logger } from './logger.js';
import type { Queues } from './jobs/queues.js';
import type { OpsOptions } from './transport/http.js';
import { parkedPageHandler } from './transport/ops-parked-page.js';

export const QUEUES_PATH = '/ops/queues';
export const PARKED_PATH = '/ops/parked';

/**
 * The ops dashboard the HTTP server mounts under /ops when OPS_DASHBOARD_TOKEN is set (undefined otherwise): Bull
 * Board over every queue at /ops/queues, the parked messages and DLQ topics at /ops/parked. Bull Board is loaded
 * only then, so a worker without the dashboard does not pay for its start-up.
 */
export async function opsDashboard(deps: { config: Config; logger: Logger; queues: Queues; knex: Knex; kafka: Kafka }): Promise<OpsOptions | undefined> {
  const { config, logger } = deps;
  if (!config.OPS_DASHBOARD_TOKEN) return undefined;
  const { queueDashboardHandler } = await import('./jobs/queue-dashboard.js');
  const dlqTopics = [
    { topic: config.DLQ_TOPIC, holds: 'unreadable commands', cliSource: 'commands' as const },
    { topic: config.TRACKING_DLQ_TOPIC, holds: 'rejected tracking events', cliSource: 'tracking' as const },
  ];
  return {
    token: config.OPS_DASHBOARD_TOKEN,
    pages: [
      { path: QUEUES_PATH, acceptsWrites: true, handle: queueDashboardHandler({ queues: deps.queues, basePath: QUEUES_PATH, links: [{ text: 'Parked messages and DLQs', url: PARKED_PATH }] }) },
      { path: PARKED_PATH, acceptsWrites: false, handle: parkedPageHandler({ knex: deps.knex, kafka: deps.kafka, dlqTopics, queuesPath: QUEUES_PATH }) },
    ],
    onError: (error) => logger.error({ err: error }, 'ops page failed'),
  };
}
