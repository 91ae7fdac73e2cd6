import { metricCreateSchema } from '../../contracts/metrics.js';
import { Metric } from '../../models/metric.js';
import { scopeOf } from '../environment-scope.js';
import { defineHandler } from '../types.js';
import { metricView } from './views.js';

export const createMetric = defineHandler({
  type: 'metric.create',
  scope: 'environment',
  payload: metricCreateSchema,
  async handle(ctx, p) {
    const { environment } = scopeOf(ctx);
    const metric = await Metric.query(ctx.trx)
      .insert({ ...p, environmentId: environment.id, createdAt: ctx.now, updatedAt: ctx.now })
      .returning('*');
    // A new metric is attached to no experiment yet.
    const view = metricView(metric, []);
    return {
      status: 201,
      body: view,
      events: [{ type: 'metric.created', data: view }],
      audit: [{ action: 'create', resourceType: 'metric', resourceId: metric.id, before: null, after: view }],
    };
  },
});
