import { z } from 'zod';
import { pagingFields } from './paging.js';
import { resourceId, resourceName } from './metrics.js';

// Payloads of the experiment and attached-metric commands. Where a command answers 404 before field errors,
// the `…Schema` checks only the ids and the worker checks the rest after the lookup (the `…FieldsSchema`s); the
// `…PayloadSchema`s are the two together, what a sender sends.

/** created → running (start) → paused (pause) ↔ running; running/paused → completed. */
export const EXPERIMENT_STATUSES = ['created', 'running', 'paused', 'completed'] as const;
export type ExperimentStatus = (typeof EXPERIMENT_STATUSES)[number];

export const EXPECTED_DIRECTIONS = ['increase', 'decrease', 'not_increase', 'not_decrease'] as const;
export type ExpectedDirection = (typeof EXPECTED_DIRECTIONS)[number];

const expectedDirection = z.enum(EXPECTED_DIRECTIONS);

/** One metric to attach; whether `metricId` names a live metric is the worker's check. */
export const attachmentFieldsSchema = z.object({ metricId: resourceId, expectedDirection });

/** Size limits of experiment fields. */
export const HYPOTHESIS_MAX_CHARS = 10_000;
export const MAX_METRICS_PER_EXPERIMENT = 50;

export const experimentCreateSchema = z.object({
  featureId: resourceId,
  name: resourceName,
  hypothesis: z.string().max(HYPOTHESIS_MAX_CHARS),
  exposureEvent: z.string().trim().min(1).max(255).default('$flag_exposure'),
  controlVariant: z.string().trim().min(1).max(255).default('control'),
  metrics: z.array(attachmentFieldsSchema).max(MAX_METRICS_PER_EXPERIMENT).default([]),
});

export const experimentIdSchema = z.object({ id: resourceId });

export const experimentUpdateSchema = z.looseObject({ id: resourceId });

// A field experiment.update refuses whenever it is given.
const mustBeAbsent = (message: string) => z.never({ error: message }).optional();

/** What experiment.update may change, checked once the experiment is found. */
export const experimentUpdateFieldsSchema = z.object({
  name: resourceName.optional(),
  hypothesis: z.string().max(HYPOTHESIS_MAX_CHARS).optional(),
  featureId: mustBeAbsent('Cannot change the feature of an existing experiment.'),
  metrics: mustBeAbsent('Cannot change the metrics of an existing experiment.'),
});
export const experimentUpdatePayloadSchema = experimentUpdateSchema.extend(experimentUpdateFieldsSchema.shape);

const isStatus = (value: string): value is ExperimentStatus => (EXPERIMENT_STATUSES as readonly string[]).includes(value);

// Repeatable: one status or a list of them.
const statusFilter = z
  .union([z.string(), z.array(z.string())])
  .transform((value) => (Array.isArray(value) ? value : [value]))
  .superRefine((values, ctx) => {
    for (const value of values) if (!isStatus(value)) ctx.addIssue({ code: 'custom', message: `Invalid status '${value}'.` });
  })
  .transform((values) => values.filter(isStatus))
  .meta({ description: `One status or a list of them: ${EXPERIMENT_STATUSES.join(', ')}.` });

export const experimentListSchema = z.object({
  ...pagingFields,
  q: z.string().max(255).optional(),
  status: statusFilter.optional(),
});

export const attachSchema = z.looseObject({ experimentId: resourceId });
export const attachPayloadSchema = attachSchema.extend(attachmentFieldsSchema.shape);
export const attachmentIdSchema = z.object({ experimentId: resourceId, id: resourceId });
export const attachmentListSchema = z.object({ experimentId: resourceId });
export const attachmentUpdateSchema = z.looseObject({ experimentId: resourceId, id: resourceId });
export const attachmentUpdateFieldsSchema = z.object({ expectedDirection });
export const attachmentUpdatePayloadSchema = attachmentUpdateSchema.extend(attachmentUpdateFieldsSchema.shape);

export type AttachmentFields = z.infer<typeof attachmentFieldsSchema>;
export type ExperimentCreate = z.infer<typeof experimentCreateSchema>;
export type ExperimentUpdateFields = z.infer<typeof experimentUpdateFieldsSchema>;
export type ExperimentList = z.infer<typeof experimentListSchema>;
