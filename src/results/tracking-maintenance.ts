import { DAY_MS, neededTracking } from '../domain/tracking-retention.js';
import { trackingNeededByExperiments } from '../models/results.js';
import { PartitionManager, dayStart } from './tracking-store.js';
import type { ResultsDeps } from './deps.js';

/**
 * Creates today's and tomorrow's partitions ahead of the ingester, and drops those past retention that no
 * experiment still needs (DOMAIN.md "Results"; domain/tracking-retention.ts).
 */
export async function runTrackingMaintenance(deps: ResultsDeps, partitions: PartitionManager, now = new Date()): Promise<{ dropped: string[] }> {
  const { knex, config, logger } = deps;
  partitions.reset();
  await partitions.ensure([dayStart(now), dayStart(now.getTime() + DAY_MS)]);
  const needed = [
    ...(await trackingNeededByExperiments(knex, config.CUPED_LOOKBACK_DAYS)),
    // An experiment starting from now on (also one whose start races this run) reads the lookback before it.
    neededTracking(now, null, config.CUPED_LOOKBACK_DAYS),
  ];
  const dropped = await partitions.dropPastRetention(config.TRACKING_RETENTION_DAYS, now, needed);
  if (dropped.length) logger.info({ dropped }, 'tracking partitions past retention dropped');
  return { dropped };
}
