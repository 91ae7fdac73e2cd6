import { resultsGetSchema } from '../../contracts/results.js';
import { ExperimentResult, resultsView } from '../../models/results.js';
import { scopeOf } from '../environment-scope.js';
import { findLiveExperiment } from '../../models/experiment.js';
import { defineHandler, notFound } from '../types.js';

/** experiment.results.get → 200 {results: null | {asOf, lastErrorAt, refreshRequestedAt, isFinal, payload}}. */
export const getResults = defineHandler({
  type: 'experiment.results.get',
  scope: 'environment',
  payload: resultsGetSchema,
  async handle(ctx, p) {
    const experiment = await findLiveExperiment(ctx.trx, scopeOf(ctx).environment.id, p.experimentId);
    if (!experiment) throw notFound();
    const row = await ExperimentResult.query(ctx.trx).where('experiment_id', experiment.id).first();
    return { status: 200, body: { results: row ? resultsView(row) : null } };
  },
});
