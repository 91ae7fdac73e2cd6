import { metricIdSchema } from '../../contracts/metrics.js';
import { findLiveMetric } from '../../models/metric.js';
import { scopeOf } from '../environment-scope.js';
import { defineHandler, notFound } from '../types.js';
import { metricViews } from './views.js';

export const getMetric = defineHandler({
  type: 'metric.get',
  scope: 'environment',
  payload: metricIdSchema,
  async handle(ctx, p) {
    const metric = await findLiveMetric(ctx.trx, scopeOf(ctx).environment.id, p.id);
    if (!metric) throw notFound();
    const [view] = await metricViews(ctx.trx, [metric]);
    return { status: 200, body: view };
  },
});
