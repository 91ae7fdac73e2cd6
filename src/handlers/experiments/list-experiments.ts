import { experimentListSchema } from '../../contracts/experiments.js';
import { EXPERIMENT_STATUSES, type ExperimentStatus } from '../../domain/experiment-status.js';
import { containsPattern, pageWindow } from '../../domain/paging.js';
import { Experiment } from '../../models/experiment.js';
import { scopeOf } from '../environment-scope.js';
import { defineHandler } from '../types.js';
import { experimentViews } from './views.js';

// Four queries whatever the page holds: status counts, count, page, and the page's attachments.
export const listExperiments = defineHandler({
  type: 'experiment.list',
  scope: 'environment',
  payload: experimentListSchema,
  async handle(ctx, p) {
    const { trx } = ctx;
    // Live experiments of the environment matching q (experiment or feature name).
    const searched = () => {
      const query = Experiment.query(trx).where('experiments.environment_id', scopeOf(ctx).environment.id).whereNull('experiments.deleted_at');
      if (p.q) {
        const pattern = containsPattern(p.q);
        query
          .join('features', 'features.id', 'experiments.feature_id')
          .where((w) => w.where('experiments.name', 'ilike', pattern).orWhere('features.name', 'ilike', pattern));
      }
      return query;
    };
    const filtered = () => {
      const query = searched();
      if (p.status?.length) query.whereIn('experiments.status', p.status);
      return query;
    };

    // statusCounts respects q but not the status filter.
    const counted = (await searched().select('experiments.status').count('* as n').groupBy('experiments.status')) as unknown as {
      status: ExperimentStatus;
      n: number;
    }[];
    const statusCounts = Object.fromEntries(EXPERIMENT_STATUSES.map((s) => [s, 0])) as Record<ExperimentStatus, number>;
    for (const { status, n } of counted) statusCounts[status] = n;

    const { offset, limit } = pageWindow(p);
    const count = await filtered().resultSize();
    const page = await filtered()
      .select('experiments.*')
      .orderBy('experiments.created_at', 'desc')
      .orderBy('experiments.id', 'desc')
      .offset(offset)
      .limit(limit);
    return {
      status: 200,
      body: { count, page: p.page, pageSize: p.pageSize, results: await experimentViews(trx, page), statusCounts },
    };
  },
});
