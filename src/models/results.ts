import type { Knex } from 'knex';
import { BaseModel } from './base.js';
import { neededTracking, type NeededTracking } from '../domain/tracking-retention.js';

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
 * The tracking data experiments still need (DOMAIN.md "Results", retention): the window and CUPED lookback of each
 * live experiment that is running, paused, or completed without final results. Deleted experiments, and those
 * not started yet, need nothing stored so far.
 */
export async function trackingNeededByExperiments(db: Knex | Knex.Transaction, lookbackDays: number): Promise<NeededTracking[]> {
  const rows: { started_at: Date; ended_at: Date | null }[] = await db('experiments as x')
    .leftJoin('experiment_results as r', 'r.experiment_id', 'x.id')
    .whereNull('x.deleted_at')
    .whereNotNull('x.started_at')
    .where((q) => q.whereIn('x.status', ['running', 'paused']).orWhere((c) => c.where('x.status', 'completed').whereRaw('r.is_final is not true')))
    .select('x.started_at', 'x.ended_at');
  return rows.map((r) => neededTracking(r.started_at, r.ended_at, lookbackDays));
}

/**
 * Ids (ascending) of the live experiments whose last accepted refresh (refresh_requested_at) has been neither
 * computed (as_of) nor recorded as failed (last_error_at) since: the computations a lost compute job still owes.
 */
export async function pendingResultsRefreshes(db: Knex | Knex.Transaction): Promise<number[]> {
  const ids: (number | string)[] = await db('experiment_results as r')
    .join('experiments as x', 'x.id', 'r.experiment_id')
    .whereNull('x.deleted_at')
    .whereNotNull('r.refresh_requested_at')
    .where((q) => q.whereNull('r.as_of').orWhereRaw('r.as_of < r.refresh_requested_at'))
    .where((q) => q.whereNull('r.last_error_at').orWhereRaw('r.last_error_at < r.refresh_requested_at'))
    .orderBy('x.id')
    .pluck('x.id');
  return ids.map(Number);
}
