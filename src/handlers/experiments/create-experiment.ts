import { experimentCreateSchema, type ExperimentCreate } from '../../contracts/experiments.js';
import { Experiment } from '../../models/experiment.js';
import { ExperimentMetric } from '../../models/experiment-metric.js';
import { lockLiveMetrics } from '../../models/metric.js';
import { Feature } from '../../models/platform.js';
import { insertUnlessTaken, scopeOf } from '../environment-scope.js';
import { ATTACH_MESSAGES, invalidPk } from '../experiment-metrics/attachable-metrics.js';
import { CommandRejection, defineHandler, invalid, type CommandContext, type EnvironmentScope } from '../types.js';
import { loadExperimentView } from './views.js';

// Check order: fields, featureId and inline metrics (one 400 with all their errors), then the one active
// experiment per feature (the partial unique index settles concurrent creates). Experiment and
// attachments are inserted in the command's transaction: together or not at all.
export const createExperiment = defineHandler({
  type: 'experiment.create',
  scope: 'environment',
  payload: experimentCreateSchema,
  async handle(ctx, p) {
    const { trx, now } = ctx;
    const scope = scopeOf(ctx);
    const errors = { ...(await featureErrors(ctx, scope, p.featureId)), ...(await inlineMetricErrors(ctx, scope, p.metrics)) };
    if (Object.keys(errors).length) throw invalid(errors);

    const experiment = await insertUnlessTaken(trx, 'experiments_active_feature_unique', async (savepoint) =>
      await Experiment.query(savepoint)
        .insert({
          environmentId: scope.environment.id,
          featureId: p.featureId,
          name: p.name,
          hypothesis: p.hypothesis,
          exposureEvent: p.exposureEvent,
          controlVariant: p.controlVariant,
          status: 'created',
          createdAt: now,
          updatedAt: now,
        })
        .returning('*'),
    );
    if (!experiment) throw new CommandRejection(409, { detail: 'An active experiment already exists for this feature.' });
    if (p.metrics.length) {
      await ExperimentMetric.query(trx).insert(
        p.metrics.map((m) => ({ experimentId: experiment.id, metricId: m.metricId, expectedDirection: m.expectedDirection, createdAt: now })),
      );
    }

    const view = await loadExperimentView(trx, experiment);
    return {
      status: 201,
      body: view,
      events: [{ type: 'experiment.created', data: view }],
      audit: [
        { action: 'create', resourceType: 'experiment', resourceId: experiment.id, before: null, after: view },
        ...view.metrics.map((a) => ({ action: 'attach', resourceType: 'experiment_metric', resourceId: a.id, before: null, after: a })),
      ],
    };
  },
});

async function featureErrors({ trx }: CommandContext, { project }: EnvironmentScope, featureId: number): Promise<Record<string, string[]>> {
  const feature = await Feature.query(trx).findById(featureId);
  if (!feature) return { featureId: [invalidPk(featureId)] };
  if (feature.type !== 'MULTIVARIATE') return { featureId: ['Experiments can only be created for multivariate flags.'] };
  if (feature.projectId !== project.id) return { featureId: ["Feature does not belong to this environment's project."] };
  return {};
}

// The attach rules for each inline metric, keyed as fieldErrors keys nested fields ("metrics.0.metricId").
async function inlineMetricErrors(
  { trx }: CommandContext,
  { environment }: EnvironmentScope,
  metrics: ExperimentCreate['metrics'],
): Promise<Record<string, string[]>> {
  const live = await lockLiveMetrics(trx, metrics.map((m) => m.metricId));
  const errors: Record<string, string[]> = {};
  metrics.forEach(({ metricId }, index) => {
    const metric = live.get(metricId);
    if (!metric) errors[`metrics.${index}.metricId`] = [invalidPk(metricId)];
    else if (metric.environmentId !== environment.id) errors[`metrics.${index}.metricId`] = [ATTACH_MESSAGES.otherEnvironment];
  });
  if (Object.keys(errors).length) return errors;
  if (new Set(metrics.map((m) => m.metricId)).size !== metrics.length) return { metrics: [ATTACH_MESSAGES.duplicateInline] };
  return {};
}
