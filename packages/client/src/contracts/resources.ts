import { z } from 'zod';
import { EXPECTED_DIRECTIONS, EXPERIMENT_STATUSES } from './experiments.js';
import { METRIC_AGGREGATIONS, METRIC_DIRECTIONS } from './metrics.js';

// Resources as replies and events show them. Times are ISO 8601 strings in UTC.

const int = z.number().int();
const time = z.string();

export const organisationSchema = z.object({ id: int, name: z.string(), experimentationEnabled: z.boolean() });
export const projectSchema = z.object({ id: int, organisationId: int, name: z.string() });
export const environmentSchema = z.object({ id: int, key: z.string(), projectId: int, name: z.string() });
export const featureSchema = z.object({
  id: int,
  projectId: int,
  name: z.string(),
  type: z.enum(['STANDARD', 'MULTIVARIATE']),
  variants: z.array(z.object({ key: z.string(), percentageAllocation: z.number() })),
});
export const accessGrantBodySchema = z.object({
  userId: z.string(),
  scope: z.enum(['organisation', 'project', 'environment']),
  scopeId: z.string(),
  role: z.enum(['admin']),
});

/** A metric attached to an experiment. */
export const attachmentSchema = z.object({
  id: int,
  metricId: int,
  metricName: z.string(),
  aggregation: z.enum(METRIC_AGGREGATIONS),
  direction: z.enum(METRIC_DIRECTIONS),
  expectedDirection: z.enum(EXPECTED_DIRECTIONS),
  createdAt: time,
});

export const metricSchema = z.object({
  id: int,
  uuid: z.uuid(),
  name: z.string(),
  description: z.string(),
  aggregation: z.enum(METRIC_AGGREGATIONS),
  direction: z.enum(METRIC_DIRECTIONS),
  definition: z.record(z.string(), z.unknown()),
  createdAt: time,
  updatedAt: time,
  /** The live experiments (any status) the metric is attached to. */
  experiments: z.array(z.object({ id: int, name: z.string(), status: z.enum(EXPERIMENT_STATUSES) })),
});

export const experimentSchema = z.object({
  id: int,
  uuid: z.uuid(),
  featureId: int,
  name: z.string(),
  hypothesis: z.string(),
  status: z.enum(EXPERIMENT_STATUSES),
  exposureEvent: z.string(),
  controlVariant: z.string(),
  startedAt: time.nullable(),
  endedAt: time.nullable(),
  createdAt: time,
  updatedAt: time,
  metrics: z.array(attachmentSchema),
});

const page = { count: int, page: int, pageSize: int };
export const metricPageSchema = z.object({ ...page, results: z.array(metricSchema) });
export const experimentPageSchema = z.object({
  ...page,
  results: z.array(experimentSchema),
  /** Per status, matching `q` but not the status filter. */
  statusCounts: z.record(z.enum(EXPERIMENT_STATUSES), int),
});

export type Organisation = z.infer<typeof organisationSchema>;
export type Project = z.infer<typeof projectSchema>;
export type Environment = z.infer<typeof environmentSchema>;
export type Feature = z.infer<typeof featureSchema>;
export type AccessGrantBody = z.infer<typeof accessGrantBodySchema>;
export type Attachment = z.infer<typeof attachmentSchema>;
export type Metric = z.infer<typeof metricSchema>;
export type Experiment = z.infer<typeof experimentSchema>;
export type MetricPage = z.infer<typeof metricPageSchema>;
export type ExperimentPage = z.infer<typeof experimentPageSchema>;
