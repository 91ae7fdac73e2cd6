import { z } from 'zod';
import { definitionError } from './metric-definition.js';
import { pagingFields } from './paging.js';

// Payloads of the metric commands.

export const METRIC_AGGREGATIONS = ['count', 'sum', 'mean', 'occurrence'] as const;
export const METRIC_DIRECTIONS = ['up', 'down', 'informational'] as const;
export type MetricAggregation = (typeof METRIC_AGGREGATIONS)[number];
export type MetricDirection = (typeof METRIC_DIRECTIONS)[number];

/** A resource id in a payload; ids that name nothing are answered 404. */
export const resourceId = z.number().int();

/** A required name, trimmed, as Django REST framework's CharField(max_length=255). */
export const resourceName = z.string().trim().min(1).max(255);

/** Size limits of metric fields. */
export const DESCRIPTION_MAX_CHARS = 10_000;
export const DEFINITION_MAX_BYTES = 16_384;

// Required, then the definition rules (a refinement sees a missing key as undefined), then the size limit.
const definition = z
  .unknown()
  .superRefine((value, ctx) => {
    const message =
      value === undefined
        ? 'This field is required.'
        : (definitionError(value) ?? (Buffer.byteLength(JSON.stringify(value)) > DEFINITION_MAX_BYTES ? `Definition must be at most ${DEFINITION_MAX_BYTES} bytes.` : null));
    if (message) ctx.addIssue({ code: 'custom', message });
  })
  .transform((value) => value as Record<string, unknown>)
  .meta({
    description: `Version 1 is {"version": 1, "event": "<event name>"}; other keys are kept as sent. At most ${DEFINITION_MAX_BYTES} bytes as JSON.`,
    examples: [{ version: 1, event: 'checkout' }],
  });

export const metricCreateSchema = z.object({
  name: resourceName,
  description: z.string().max(DESCRIPTION_MAX_CHARS).default(''),
  aggregation: z.enum(METRIC_AGGREGATIONS).default('mean'),
  direction: z.enum(METRIC_DIRECTIONS).default('up'),
  definition,
});

export const metricIdSchema = z.object({ id: resourceId });

export const metricListSchema = z.object({ ...pagingFields, q: z.string().max(255).optional() });

// Metrics are immutable: any payload gets the 405.
export const metricUpdateSchema = z.unknown();

export type MetricCreate = z.infer<typeof metricCreateSchema>;
export type MetricList = z.infer<typeof metricListSchema>;
