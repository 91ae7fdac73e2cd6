import { metricListSchema } from '../../contracts/metrics.js';
import { containsPattern, pageWindow } from '../../domain/paging.js';
import { Metric } from '../../models/metric.js';
import { scopeOf } from '../environment-scope.js';
import { defineHandler } from '../types.js';
import { metricViews } from './views.js';

// Three queries whatever the page holds: count, page, and the experiments of the page's metrics.
export const listMetrics = defineHandler({
  type: 'metric.list',
  scope: 'environment',
  payload: metricListSchema,
  async handle(ctx, p) {
    const matching = () => {
      const query = Metric.query(ctx.trx).where('environment_id', scopeOf(ctx).environment.id).whereNull('deleted_at');
      if (p.q) query.where('name', 'ilike', containsPattern(p.q));
      return query;
    };
    const { offset, limit } = pageWindow(p);
    const count = await matching().resultSize();
    const page = await matching().orderBy('created_at', 'desc').orderBy('id', 'desc').offset(offset).limit(limit);
    return {
      status: 200,
      body: { count, page: p.page, pageSize: p.pageSize, results: await metricViews(ctx.trx, page) },
    };
  },
});
