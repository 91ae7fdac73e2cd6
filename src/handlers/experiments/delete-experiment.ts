import { experimentIdSchema } from '../../contracts/experiments.js';
import { Experiment, findLiveExperiment } from '../../models/experiment.js';
import { scopeOf } from '../environment-scope.js';
import { defineHandler, invalid, notFound } from '../types.js';
import { loadExperimentView } from './views.js';

// Soft delete; a running experiment must be paused or completed first.
export const deleteExperiment = defineHandler({
  type: 'experiment.delete',
  scope: 'environment',
  payload: experimentIdSchema,
  async handle(ctx, p) {
    const { trx, now } = ctx;
    const experiment = await findLiveExperiment(trx, scopeOf(ctx).environment.id, p.id).forUpdate();
    if (!experiment) throw notFound();
    if (experiment.status === 'running') throw invalid({ detail: 'Cannot delete a running experiment. Pause or complete it first.' });
    const before = await loadExperimentView(trx, experiment);
    await Experiment.query(trx).patch({ deletedAt: now }).where('id', experiment.id);
    return {
      status: 204,
      body: null,
      events: [{ type: 'experiment.deleted', data: before }],
      audit: [{ action: 'delete', resourceType: 'experiment', resourceId: experiment.id, before, after: null }],
    };
  },
});
