import { experimentIdSchema } from '../../contracts/experiments.js';
import { findLiveExperiment } from '../../models/experiment.js';
import { scopeOf } from '../environment-scope.js';
import { defineHandler, notFound } from '../types.js';
import { loadExperimentView } from './views.js';

export const getExperiment = defineHandler({
  type: 'experiment.get',
  scope: 'environment',
  payload: experimentIdSchema,
  async handle(ctx, p) {
    const experiment = await findLiveExperiment(ctx.trx, scopeOf(ctx).environment.id, p.id);
    if (!experiment) throw notFound();
    return { status: 200, body: await loadExperimentView(ctx.trx, experiment) };
  },
});
