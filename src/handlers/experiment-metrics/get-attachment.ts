import { attachmentIdSchema } from '../../contracts/experiments.js';
import { findLiveExperiment } from '../../models/experiment.js';
import { findAttachmentView } from '../../models/experiment-metric.js';
import { scopeOf } from '../environment-scope.js';
import { defineHandler, notFound } from '../types.js';

export const getAttachment = defineHandler({
  type: 'experiment.metric.get',
  scope: 'environment',
  payload: attachmentIdSchema,
  async handle(ctx, p) {
    const experiment = await findLiveExperiment(ctx.trx, scopeOf(ctx).environment.id, p.experimentId);
    if (!experiment) throw notFound();
    const view = await findAttachmentView(ctx.trx, experiment.id, p.id);
    if (!view) throw notFound();
    return { status: 200, body: view };
  },
});
