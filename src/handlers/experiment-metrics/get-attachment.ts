import { attachmentIdSchema } from '../../contracts/experiments.js';
import { scopeOf } from '../environment-scope.js';
import { findLiveExperiment } from '../experiments/views.js';
import { defineHandler, notFound } from '../types.js';
import { findAttachmentView } from './views.js';

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
