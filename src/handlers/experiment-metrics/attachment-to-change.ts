import { findAttachmentView, type AttachmentView } from '../../models/experiment-metric.js';
import { findLiveExperiment, type Experiment } from '../../models/experiment.js';
import { scopeOf } from '../environment-scope.js';
import { notFound, type CommandContext } from '../types.js';

/**
 * The live experiment (locked FOR SHARE against status changes) and its attachment `id`, for commands that
 * change an attachment; 404 when either is missing, in that order (DOMAIN.md).
 */
export async function findAttachmentToChange(ctx: CommandContext, experimentId: number, id: number): Promise<{ experiment: Experiment; before: AttachmentView }> {
  const experiment = await findLiveExperiment(ctx.trx, scopeOf(ctx).environment.id, experimentId).forShare();
  if (!experiment) throw notFound();
  const before = await findAttachmentView(ctx.trx, experiment.id, id);
  if (!before) throw notFound();
  return { experiment, before };
}
