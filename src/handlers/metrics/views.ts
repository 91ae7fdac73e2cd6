import type { Knex } from 'knex';
import type { Metric as MetricBody } from '@experimentation-worker/client/contracts';
import type { Metric } from '../../models/metric.js';
import { Experiment } from '../../models/experiment.js';
import type { ExperimentStatus } from '../../domain/experiment-status.js';

// How a metric appears in replies and events: with the live experiments (any status) it is attached to. Typed
// by the contract (the client package's metricSchema), so the worker cannot send another shape.

export interface MetricExperiment {
  id: number;
  name: string;
  status: ExperimentStatus;
}

export const metricView = (m: Metric, experiments: MetricExperiment[]): MetricBody => ({
  id: m.id,
  uuid: m.uuid,
  name: m.name,
  description: m.description,
  aggregation: m.aggregation,
  direction: m.direction,
  definition: m.definition,
  createdAt: m.createdAt.toISOString(),
  updatedAt: m.updatedAt.toISOString(),
  experiments,
});
export type MetricView = ReturnType<typeof metricView>;

/** Views of `metrics` in their order, loading their experiments in one query whatever their number. */
export async function metricViews(trx: Knex.Transaction, metrics: Metric[]): Promise<MetricView[]> {
  if (metrics.length === 0) return [];
  const rows = (await Experiment.query(trx)
    .join('experiment_metrics', 'experiment_metrics.experiment_id', 'experiments.id')
    .whereIn('experiment_metrics.metric_id', metrics.map((m) => m.id))
    .whereNull('experiments.deleted_at')
    .select('experiment_metrics.metric_id', 'experiments.id', 'experiments.name', 'experiments.status')
    .orderBy('experiments.id')) as (Experiment & { metricId: number })[];
  const byMetric = new Map<number, MetricExperiment[]>();
  for (const row of rows) {
    const list = byMetric.get(row.metricId) ?? [];
    list.push({ id: row.id, name: row.name, status: row.status });
    byMetric.set(row.metricId, list);
  }
  return metrics.map((m) => metricView(m, byMetric.get(m.id) ?? []));
}
