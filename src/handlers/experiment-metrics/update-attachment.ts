import { attachmentUpdateFieldsSchema, attachmentUpdateSchema } from '../../contracts/experiments.js';
import { fieldErrors } from '../../contracts/errors.js';
import { ExperimentMetric } from '../../models/experiment-metric.js';
import { defineHandler, invalid, notFound } from '../types.js';
import { assertMetricsModifiable } from './attachable-metrics.js';
import { findAttachmentToChange } from './attachment-to-change.js';

// Changes only expectedDirection, under the attach checks: 404s, fields, completed experiment.
export const updateAttachment = defineHandler({
  type: 'experiment.metric.update',
  scope: 'environment',
  payload: attachmentUpdateSchema,
  async handle(ctx, p) {
    const { trx } = ctx;
    const { experiment, before } = await findAttachmentToChange(ctx, p.experimentId, p.id);
    const fields = attachmentUpdateFieldsSchema.safeParse(p);
    if (!fields.success) throw invalid(fieldErrors(fields.error));
    assertMetricsModifiable(experiment);

    const { expectedDirection } = fields.data;
    // Like experiment.update, a change to nothing is no event.
    if (expectedDirection === before.expectedDirection) return { status: 200, body: before };
    // A concurrent detach may have removed it since the read above.
    if (!(await ExperimentMetric.query(trx).patch({ expectedDirection }).where('id', before.id))) throw notFound();
    const after = { ...before, expectedDirection };
    return {
      status: 200,
      body: after,
      events: [{ type: 'experiment.metric.updated', data: after }],
      audit: [{ action: 'update', resourceType: 'experiment_metric', resourceId: before.id, before, after }],
    };
  },
});
