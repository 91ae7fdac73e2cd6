// Payloads of the metric commands: in the client package (packages/client/src/contracts/metrics.ts).
export {
  DEFINITION_MAX_BYTES,
  DESCRIPTION_MAX_CHARS,
  METRIC_AGGREGATIONS,
  METRIC_DIRECTIONS,
  metricCreateSchema,
  metricIdSchema,
  metricListSchema,
  metricUpdateSchema,
  resourceId,
  resourceName,
} from '@experimentation-worker/client/contracts';
export type { MetricAggregation, MetricCreate, MetricDirection, MetricList } from '@experimentation-worker/client/contracts';
