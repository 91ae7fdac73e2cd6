import { attachmentListSchema } from '../../contracts/experiments.js';
import { scopeOf } from '../environment-scope.js';
import { findLiveExperiment } from '../experiments/views.js';
import { defineHandler, notFound } from '../types.js';
import { attachmentViewsByExperiment } from './views.js';

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
