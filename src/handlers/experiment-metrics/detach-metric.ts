import { attachmentIdSchema } from '../../contracts/experiments.js';
import { ExperimentMetric } from '../../models/experiment-metric.js';
import { scopeOf } from '../environment-scope.js';
import { findLiveExperiment } from '../experiments/views.js';
import { defineHandler, invalid, notFound } from '../types.js';
import { findAttachmentView } from './views.js';

// Detaching deletes the attachment row (no soft delete).
export const detachMetric = defineHandler({
  type: 'experiment.metric.detach',
  scope: 'environment',
  payload: attachmentIdSchema,
  async handle(ctx, p) {
    const { trx } = ctx;
    const experiment = await findLiveExperiment(trx, scopeOf(ctx).environment.id, p.experimentId).forShare();
    if (!experiment) throw notFound();
    const before = await findAttachmentView(trx, experiment.id, p.id);
    if (!before) throw notFound();
    if (experiment.status === 'completed') throw invalid({ detail: 'Cannot detach metrics from a completed experiment.' });
    // A concurrent detach of the same attachment may have won since the read above.
    if (!(await ExperimentMetric.query(trx).deleteById(before.id))) throw notFound();
    return {
      status: 204,
      body: null,
      events: [{ type: 'experiment.metric.detached', data: before }],
      audit: [{ action: 'detach', resourceType: 'experiment_metric', resourceId: before.id, before, after: null }],
    };
  },
});
