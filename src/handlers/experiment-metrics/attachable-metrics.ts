import type { Experiment } from '../../models/experiment.js';
import { invalid } from '../types.js';

// DOMAIN.md "Attaching metrics": the rules shared by experiment.metric.attach and experiment.create's inline metrics.

export const ATTACH_MESSAGES = {
  completed: 'Cannot modify metrics of a completed experiment.',
  otherEnvironment: "Metric must belong to the experiment's environment.",
  alreadyAttached: 'Metric is already attached to this experiment.',
  duplicateInline: 'Metric can only be attached once per experiment.',
  tooMany: 'An experiment can have at most 50 metrics.',
} as const;

export const invalidPk = (id: number) => `Invalid pk "${id}" - object does not exist.`;

/** Rejects changes to the metrics of a completed experiment. */
export function assertMetricsModifiable(experiment: Experiment): void {
  if (experiment.status === 'completed') throw invalid({ nonFieldErrors: [ATTACH_MESSAGES.completed] });
}
