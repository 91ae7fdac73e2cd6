import type { Knex } from 'knex';
import { BaseModel } from './base.js';

// The results of one experiment (one row per experiment, created by the first refresh or computation).
// payload is CONTRACT.md's results payload; it is kept when a later computation fails.
export class ExperimentResult extends BaseModel {
  static override tableName = 'experiment_results';
  static override jsonAttributes = ['payload'];
  declare id: number;
  declare experimentId: number;
  declare asOf: Date | null;
  declare lastErrorAt: Date | null;
  declare lastError: string | null;
  declare refreshRequestedAt: Date | null;
  declare isFinal: boolean;
  declare payload: unknown;
  declare createdAt: Date;
  declare updatedAt: Date;
}

/** How results appear in replies and events (CONTRACT.md `experiment.results.get`). */
export const resultsView = (r: Pick<ExperimentResult, 'asOf' | 'lastErrorAt' | 'refreshRequestedAt' | 'isFinal' | 'payload'>) => ({
  asOf: r.asOf ? r.asOf.toISOString() : null,
  lastErrorAt: r.lastErrorAt ? r.lastErrorAt.toISOString() : null,
  refreshRequestedAt: r.refreshRequestedAt ? r.refreshRequestedAt.toISOString() : null,
  isFinal: r.isFinal,
  payload: r.payload ?? null,
});
export type ResultsView = ReturnType<typeof resultsView>;

/**
 * Live experiments whose refresh was accepted (202 sent) but not computed or failed since: the compute jobs
 * that must exist. The reconciler queues them again after Redis lost its data.
 */
export async function pendingResultsRefreshes(knex: Knex, limit = 10_000): Promise<number[]> {
  const rows: { experiment_id: number }[] = await knex('experiment_results as r')
    .join('experiments as x', 'x.id', 'r.experiment_id')
    .whereNull('x.deleted_at')
    .whereNotNull('x.started_at')
    .whereNotNull('r.refresh_requested_at')
    .where((q) => q.whereNull('r.as_of').orWhereRaw('r.as_of < r.refresh_requested_at'))
    .where((q) => q.whereNull('r.last_error_at').orWhereRaw('r.last_error_at < r.refresh_requested_at'))
    .orderBy('r.experiment_id')
    .limit(limit)
    .select('r.experiment_id');
  return rows.map((r) => Number(r.experiment_id));
}
