import { attachmentListSchema } from '../../contracts/experiments.js';
import { findLiveExperiment } from '../../models/experiment.js';
import { attachmentViewsByExperiment } from '../../models/experiment-metric.js';
import { scopeOf } from '../environment-scope.js';
import { defineHandler, notFound } from '../types.js';

export const listAttachments = defineHandler({
  type: 'experiment.metric.list',
  scope: 'environment',
  payload: attachmentListSchema,
  async handle(ctx, p) {
    const experiment = await findLiveExperiment(ctx.trx, scopeOf(ctx).environment.id, p.experimentId);
    if (!experiment) throw notFound();
    const attachments = await attachmentViewsByExperiment(ctx.trx, [experiment.id]);
    return { status: 200, body: attachments.get(experiment.id) ?? [] };
  },
});
