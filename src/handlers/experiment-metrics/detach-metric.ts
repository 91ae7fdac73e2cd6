import { attachmentIdSchema } from '../../contracts/experiments.js';
import { ExperimentMetric } from '../../models/experiment-metric.js';
import { defineHandler, invalid, notFound } from '../types.js';
import { findAttachmentToChange } from './attachment-to-change.js';

// Detaching deletes the attachment row (no soft delete).
export const detachMetric = defineHandler({
  type: 'experiment.metric.detach',
  scope: 'environment',
  payload: attachmentIdSchema,
  async handle(ctx, p) {
    const { trx } = ctx;
    const { experiment, before } = await findAttachmentToChange(ctx, p.experimentId, p.id);
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
