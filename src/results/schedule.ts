import { scheduleDue } from '../domain/results-rules.js';
import type { ResultsDeps } from './deps.js';

/** Queues a compute job for each of these experiments (one job per experiment at a time). */
export type EnqueueComputes = (experimentIds: number[]) => Promise<void>;

/**
 * The results schedule: queues a compute for every running experiment whose results are missing or older than
 * half of RESULTS_SCHEDULE_INTERVAL_S; answers how many.
 */
export async function enqueueScheduledComputes(deps: ResultsDeps, enqueue: EnqueueComputes, now = new Date()): Promise<number> {
  const rows: { id: number; as_of: Date | null }[] = await deps
    .knex('experiments as x')
    .leftJoin('experiment_results as r', 'r.experiment_id', 'x.id')
    .where('x.status', 'running')
    .whereNull('x.deleted_at')
    .whereNotNull('x.started_at')
    .select('x.id', 'r.as_of');
  const due = rows.filter((r) => scheduleDue(r.as_of, now, deps.config.RESULTS_SCHEDULE_INTERVAL_S)).map((r) => Number(r.id));
  if (due.length) await enqueue(due);
  return due.length;
}
