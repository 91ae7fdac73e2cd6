import type { Knex } from 'knex';
import { Metric } from '../../models/metric.js';
import type { Experiment } from '../../models/experiment.js';
import { invalid } from '../types.js';

// DOMAIN.md "Attaching metrics": the rules shared by experiment.metric.attach and experiment.create's inline metrics.

export const ATTACH_MESSAGES = {
  completed: 'Cannot modify metrics of a completed experiment.',
  otherEnvironment: "Metric must belong to the experiment's environment.",
  alreadyAttached: 'Metric is already attached to this experiment.',
  duplicateInline: 'Metric can only be attached once per experiment.',
} as const;

export const invalidPk = (id: number) => `Invalid pk "${id}" - object does not exist.`;

/**
 * The live (not deleted) metrics among `ids`, of any environment, in one query. They are locked FOR SHARE
 * so that a concurrent metric.delete waits for this command and then sees the new attachments.
 */
export async function lockLiveMetrics(trx: Knex.Transaction, ids: number[]): Promise<Map<number, Metric>> {
  if (ids.length === 0) return new Map();
  const metrics = await Metric.query(trx).whereIn('id', ids).whereNull('deleted_at').forShare();
  return new Map(metrics.map((m) => [m.id, m]));
}

/** Rejects changes to the metrics of a completed experiment. */
export function assertMetricsModifiable(experiment: Experiment): void {
  if (experiment.status === 'completed') throw invalid({ nonFieldErrors: [ATTACH_MESSAGES.completed] });
}
