import type { Knex } from 'knex';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';

// What the results use cases (compute, schedule, tracking maintenance) run with.

export type ResultsConfig = Pick<
  Config,
  'EVENTS_TOPIC' | 'RESULTS_ALPHA' | 'RESULTS_CORRECTION' | 'SEQUENTIAL_TAU' | 'CUPED_LOOKBACK_DAYS' | 'RESULTS_SCHEDULE_INTERVAL_S' | 'TRACKING_RETENTION_DAYS'
>;

export interface ResultsDeps {
  knex: Knex;
  config: ResultsConfig;
  logger: Logger;
}
