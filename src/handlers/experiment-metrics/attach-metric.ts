import { MAX_METRICS_PER_EXPERIMENT, attachmentFieldsSchema, attachSchema } from '../../contracts/experiments.js';
import { resourceId } from '../../contracts/metrics.js';
import { fieldErrors } from '../../contracts/errors.js';
import { ExperimentMetric, attachmentView } from '../../models/experiment-metric.js';
import { findLiveExperiment } from '../../models/experiment.js';
import { lockLiveMetrics } from '../../models/metric.js';
import { insertUnlessTaken, scopeOf } from '../environment-scope.js';
import { defineHandler, invalid, notFound } from '../types.js';
import { ATTACH_MESSAGES, assertMetricsModifiable, invalidPk } from './attachable-metrics.js';

// Check order (DOMAIN.md): experiment 404, then fields (metricId must name a live metric), completed
// experiment, metric of another environment, already attached (the unique index settles races).
export const attachMetric = defineHandler({
  type: 'experiment.metric.attach',
  scope: 'environment',
  payload: attachSchema,
  async handle(ctx, p) {
    const { trx, now } = ctx;
    // FOR NO KEY UPDATE: attaches to one experiment run one at a time (so the count below is exact), and not
    // beside a status change.
    const experiment = await findLiveExperiment(trx, scopeOf(ctx).environment.id, p.experimentId).forNoKeyUpdate();
    if (!experiment) throw notFound();

    const fields = attachmentFieldsSchema.safeParse(p);
    const errors = fields.success ? {} : fieldErrors(fields.error);
    const metricId = resourceId.safeParse(p.metricId);
    const metric = metricId.success ? (await lockLiveMetrics(trx, [metricId.data])).get(metricId.data) : undefined;
    if (metricId.success && !metric) errors.metricId = [invalidPk(metricId.data)];
    if (!fields.success || !metric) throw invalid(errors);
    const { expectedDirection } = fields.data;

    assertMetricsModifiable(experiment);
    if (metric.environmentId !== experiment.environmentId) throw invalid({ metricId: [ATTACH_MESSAGES.otherEnvironment] });

    const attachment = await insertUnlessTaken(trx, 'experiment_metrics_experiment_metric_unique', async (savepoint) =>
      await ExperimentMetric.query(savepoint).insert({ experimentId: experiment.id, metricId: metric.id, expectedDirection, createdAt: now }).returning('*'),
    );
    if (!attachment) throw invalid({ metricId: [ATTACH_MESSAGES.alreadyAttached] });
    const [{ n }] = (await ExperimentMetric.query(trx).where('experiment_id', experiment.id).count({ n: '*' })) as unknown as [{ n: number }];
    if (Number(n) > MAX_METRICS_PER_EXPERIMENT) throw invalid({ nonFieldErrors: [ATTACH_MESSAGES.tooMany] });

    const view = attachmentView(Object.assign(attachment, { metricName: metric.name, aggregation: metric.aggregation, direction: metric.direction }));
    return {
      status: 201,
      body: view,
      events: [{ type: 'experiment.metric.attached', data: view }],
      audit: [{ action: 'attach', resourceType: 'experiment_metric', resourceId: attachment.id, before: null, after: view }],
    };
  },
});
