import { metricUpdateSchema } from '../../contracts/metrics.js';
import { CommandRejection, defineHandler } from '../types.js';

// DOMAIN.md: metrics are immutable, whatever the payload.
export const updateMetric = defineHandler({
  type: 'metric.update',
  scope: 'environment',
  payload: metricUpdateSchema,
  async handle() {
    throw new CommandRejection(405, { detail: 'Metrics are immutable. Create a new metric instead.' });
  },
});
