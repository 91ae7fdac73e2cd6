import { z } from 'zod';
import { EXPERIMENT_STATUSES, type ExperimentStatus } from '../domain/experiment-status.js';
import { pagingFields } from '../domain/paging.js';
import { resourceId, resourceName } from './metrics.js';

// Payloads of the experiment and attached-metric commands (CONTRACT.md "Commands"; rules in DOMAIN.md
// "Experiment" and "Attaching metrics"). Where DOMAIN.md answers 404 before field errors, the schema
// here checks only the ids and the handler checks the rest after the lookup (the `…FieldsSchema`s).

export const EXPECTED_DIRECTIONS = ['increase', 'decrease', 'not_increase', 'not_decrease'] as const;
export type ExpectedDirection = (typeof EXPECTED_DIRECTIONS)[number];

const expectedDirection = z.enum(EXPECTED_DIRECTIONS);

/** One metric to attach; whether `metricId` names a live metric is the handler's check. */
export const attachmentFieldsSchema = z.object({ metricId: resourceId, expectedDirection });

/** CONTRACT.md "Sizes". */
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

const isStatus = (value: string): value is ExperimentStatus => (EXPERIMENT_STATUSES as readonly string[]).includes(value);

// Repeatable: one status or a list of them.
const statusFilter = z
  .union([z.string(), z.array(z.string())])
  .transform((value) => (Array.isArray(value) ? value : [value]))
  .superRefine((values, ctx) => {
    for (const value of values) if (!isStatus(value)) ctx.addIssue({ code: 'custom', message: `Invalid status '${value}'.` });
  })
  .transform((values) => values.filter(isStatus));

export const experimentListSchema = z.object({
  ...pagingFields,
  q: z.string().max(255).optional(),
  status: statusFilter.optional(),
});

export const attachSchema = z.looseObject({ experimentId: resourceId });
export const attachmentIdSchema = z.object({ experimentId: resourceId, id: resourceId });
export const attachmentListSchema = z.object({ experimentId: resourceId });
export const attachmentUpdateSchema = z.looseObject({ experimentId: resourceId, id: resourceId });
export const attachmentUpdateFieldsSchema = z.object({ expectedDirection });

export type AttachmentFields = z.infer<typeof attachmentFieldsSchema>;
export type ExperimentCreate = z.infer<typeof experimentCreateSchema>;
export type ExperimentUpdateFields = z.infer<typeof experimentUpdateFieldsSchema>;
export type ExperimentList = z.infer<typeof experimentListSchema>;
