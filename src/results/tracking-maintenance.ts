import { DAY_MS, neededTracking } from '../domain/tracking-retention.js';
import { trackingNeededByExperiments } from '../models/results.js';
import { PartitionManager, dayStart } from './tracking-store.js';
import type { ResultsDeps } from './deps.js';

/**
 * Creates today's and tomorrow's partitions ahead of the ingester, drops those past retention that no
 * experiment still needs (DOMAIN.md "Results"; domain/tracking-retention.ts), and the results states no
 * computation will read again.
 */
export async function runTrackingMaintenance(deps: ResultsDeps, partitions: PartitionManager, now = new Date()): Promise<{ dropped: string[]; statesDropped: number }> {
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
  const statesDropped = await dropUnneededStates(deps);
  return { dropped, statesDropped };
}

/**
 * Drops the results state of experiments that will not be computed again: deleted, or with final results (their
 * rows go with the state, by the foreign key).
 */
async function dropUnneededStates(deps: ResultsDeps): Promise<number> {
  const { rowCount } = await deps.knex.raw<{ rowCount: number }>(
    `delete from results_states s using experiments x
      where x.id = s.experiment_id
        and (x.deleted_at is not null or exists (select 1 from experiment_results r where r.experiment_id = x.id and r.is_final))`,
  );
  if (rowCount) deps.logger.info({ states: rowCount }, 'results states no longer needed dropped');
  return rowCount ?? 0;
}
