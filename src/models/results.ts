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
