import type { Knex } from 'knex';
import type { Attachment } from '@experimentation-worker/client/contracts';
import { BaseModel } from './base.js';
import type { ExpectedDirection } from '../contracts/experiments.js';
import type { MetricAggregation, MetricDirection } from '../contracts/metrics.js';

// A metric attached to an experiment; detaching deletes the row.
export class ExperimentMetric extends BaseModel {
  static override tableName = 'experiment_metrics';
  declare id: number;
  declare uuid: string;
  declare experimentId: number;
  declare metricId: number;
  declare expectedDirection: ExpectedDirection;
  declare createdAt: Date;
}

// How an attached metric appears in replies and events (also inside an experiment), with the metric's own
// fields joined in.

interface AttachmentRow extends ExperimentMetric {
  metricName: string;
  aggregation: MetricAggregation;
  direction: MetricDirection;
}

export const attachmentView = (a: AttachmentRow): Attachment => ({
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
