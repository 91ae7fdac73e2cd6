import { experimentUpdateFieldsSchema, experimentUpdateSchema } from '../../contracts/experiments.js';
import { fieldErrors } from '../../contracts/errors.js';
import { Experiment, findLiveExperiment } from '../../models/experiment.js';
import { scopeOf } from '../environment-scope.js';
import { defineHandler, invalid, notFound } from '../types.js';
import { experimentView, loadExperimentView } from './views.js';

// Changes only name and hypothesis; the experiment is looked up (404) before the fields are checked.
export const updateExperiment = defineHandler({
  type: 'experiment.update',
  scope: 'environment',
  payload: experimentUpdateSchema,
  async handle(ctx, p) {
    const { trx, now } = ctx;
    const experiment = await findLiveExperiment(trx, scopeOf(ctx).environment.id, p.id).forUpdate();
    if (!experiment) throw notFound();
    const fields = experimentUpdateFieldsSchema.safeParse(p);
    if (!fields.success) throw invalid(fieldErrors(fields.error));

    const changes: Partial<Pick<Experiment, 'name' | 'hypothesis'>> = {};
    if (fields.data.name !== undefined && fields.data.name !== experiment.name) changes.name = fields.data.name;
    if (fields.data.hypothesis !== undefined && fields.data.hypothesis !== experiment.hypothesis) changes.hypothesis = fields.data.hypothesis;
    const before = await loadExperimentView(trx, experiment);
    // A no-op update changes nothing, so it has no event and no audit record.
    if (Object.keys(changes).length === 0) return { status: 200, body: before };

    const updated = await Experiment.query(trx).patchAndFetchById(experiment.id, { ...changes, updatedAt: now });
    const after = experimentView(updated, before.metrics);
    return {
      status: 200,
      body: after,
      events: [{ type: 'experiment.updated', data: after }],
      audit: [{ action: 'update', resourceType: 'experiment', resourceId: experiment.id, before, after }],
    };
  },
});
