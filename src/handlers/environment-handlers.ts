import type { CommandHandler } from './types.js';
import { createMetric } from './metrics/create-metric.js';
import { getMetric } from './metrics/get-metric.js';
import { listMetrics } from './metrics/list-metrics.js';
import { updateMetric } from './metrics/update-metric.js';
import { deleteMetric } from './metrics/delete-metric.js';
import { createExperiment } from './experiments/create-experiment.js';
import { getExperiment } from './experiments/get-experiment.js';
import { listExperiments } from './experiments/list-experiments.js';
import { updateExperiment } from './experiments/update-experiment.js';
import { startExperiment } from './experiments/start-experiment.js';
import { pauseExperiment } from './experiments/pause-experiment.js';
import { completeExperiment } from './experiments/complete-experiment.js';
import { deleteExperiment } from './experiments/delete-experiment.js';
import { attachMetric } from './experiment-metrics/attach-metric.js';
import { getAttachment } from './experiment-metrics/get-attachment.js';
import { listAttachments } from './experiment-metrics/list-attachments.js';
import { updateAttachment } from './experiment-metrics/update-attachment.js';
import { detachMetric } from './experiment-metrics/detach-metric.js';
import { resultsHandlers } from './results/index.js';

// Environment-scoped handlers (metrics, experiments, attachments, results), one file per command type
// in handlers/metrics, handlers/experiments, handlers/experiment-metrics and handlers/results.
export const environmentHandlers: CommandHandler[] = [
  createMetric,
  getMetric,
  listMetrics,
  updateMetric,
  deleteMetric,
  createExperiment,
  getExperiment,
  listExperiments,
  updateExperiment,
  startExperiment,
  pauseExperiment,
  completeExperiment,
  deleteExperiment,
  attachMetric,
  getAttachment,
  listAttachments,
  updateAttachment,
  detachMetric,
  ...resultsHandlers,
] as CommandHandler[];
