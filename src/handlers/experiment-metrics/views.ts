import type { Knex } from 'knex';
import { ExperimentMetric } from '../../models/experiment-metric.js';
import type { MetricAggregation, MetricDirection } from '../../contracts/metrics.js';
import type { Experiment } from '../../models/experiment.js';
import { scopeOf } from '../environment-scope.js';
import { findLiveExperiment } from '../experiments/views.js';
import { notFound, type CommandContext } from '../types.js';

// How an attached metric appears in replies and events, with the metric's own fields joined in.

interface AttachmentRow extends ExperimentMetric {
  metricName: string;
  aggregation: MetricAggregation;
  direction: MetricDirection;
}

export const attachmentView = (a: AttachmentRow) => ({
  id: a.id,
  metricId: a.metricId,
  metricName: a.metricName,
  aggregation: a.aggregation,
  direction: a.direction,
  expectedDirection: a.expectedDirection,
  createdAt: a.createdAt.toISOString(),
});
export type AttachmentView = ReturnType<typeof attachmentView>;

const attachmentRows = (trx: Knex.Transaction) =>
  ExperimentMetric.query(trx)
    .join('metrics', 'metrics.id', 'experiment_metrics.metric_id')
    .select('experiment_metrics.*', 'metrics.name as metric_name', 'metrics.aggregation', 'metrics.direction')
    .orderBy('experiment_metrics.id');

/** The attachments of each experiment, oldest first, in one query whatever the number of experiments. */
export async function attachmentViewsByExperiment(trx: Knex.Transaction, experimentIds: number[]): Promise<Map<number, AttachmentView[]>> {
  const byExperiment = new Map<number, AttachmentView[]>(experimentIds.map((id) => [id, []]));
  if (experimentIds.length === 0) return byExperiment;
  const rows = (await attachmentRows(trx).whereIn('experiment_metrics.experiment_id', experimentIds)) as AttachmentRow[];
  for (const row of rows) byExperiment.get(row.experimentId)?.push(attachmentView(row));
  return byExperiment;
}

/** One attachment of an experiment, or undefined. */
export async function findAttachmentView(trx: Knex.Transaction, experimentId: number, id: number): Promise<AttachmentView | undefined> {
  const [row] = (await attachmentRows(trx).where('experiment_metrics.experiment_id', experimentId).where('experiment_metrics.id', id)) as AttachmentRow[];
  return row && attachmentView(row);
}

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
