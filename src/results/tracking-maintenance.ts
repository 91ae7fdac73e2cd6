import { PartitionManager, dayStart } from './tracking-store.js';
import type { ResultsDeps } from './deps.js';

/** Creates today's and tomorrow's partitions ahead of the ingester and drops those past retention. */
export async function runTrackingMaintenance(deps: ResultsDeps, partitions: PartitionManager, now = new Date()): Promise<{ dropped: string[] }> {
  partitions.reset();
  await partitions.ensure([dayStart(now), dayStart(now.getTime() + 86_400_000)]);
  const dropped = await partitions.dropOlderThan(deps.config.TRACKING_RETENTION_DAYS, now);
  if (dropped.length) deps.logger.info({ dropped }, 'tracking partitions past retention dropped');
  return { dropped };
}
