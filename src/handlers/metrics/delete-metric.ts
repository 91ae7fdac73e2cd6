import { metricIdSchema } from '../../contracts/metrics.js';
import { Metric, findLiveMetric } from '../../models/metric.js';
import { ExperimentMetric } from '../../models/experiment-metric.js';
import { scopeOf } from '../environment-scope.js';
import { CommandRejection, defineHandler, notFound } from '../types.js';
import { metricViews } from './views.js';

export const deleteMetric = defineHandler({
  type: 'metric.delete',
  scope: 'environment',
  payload: metricIdSchema,
  async handle(ctx, p) {
    const { trx, now } = ctx;
    // FOR UPDATE waits for attaches holding the metric FOR SHARE, so their attachments are seen below.
    const metric = await findLiveMetric(trx, scopeOf(ctx).environment.id, p.id).forUpdate();
    if (!metric) throw notFound();
    const activeAttachment = await ExperimentMetric.query(trx)
      .join('experiments', 'experiments.id', 'experiment_metrics.experiment_id')
      .where('experiment_metrics.metric_id', metric.id)
      .whereNull('experiments.deleted_at')
      .whereNot('experiments.status', 'completed')
      .first();
    if (activeAttachment) {
      throw new CommandRejection(409, {
        detail: 'Cannot delete a metric attached to an active experiment. Detach it or complete the experiment first.',
      });
    }
    const [before] = await metricViews(trx, [metric]);
    await Metric.query(trx).patch({ deletedAt: now }).where('id', metric.id);
    return {
      status: 204,
      body: null,
      events: [{ type: 'metric.deleted', data: before }],
      audit: [{ action: 'delete', resourceType: 'metric', resourceId: metric.id, before, after: null }],
    };
  },
});
