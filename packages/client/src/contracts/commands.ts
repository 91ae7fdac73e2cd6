import { z } from 'zod';
import {
  attachmentIdSchema,
  attachmentListSchema,
  attachmentUpdatePayloadSchema,
  attachPayloadSchema,
  experimentCreateSchema,
  experimentIdSchema,
  experimentListSchema,
  experimentUpdatePayloadSchema,
} from './experiments.js';
import { metricCreateSchema, metricIdSchema, metricListSchema, metricUpdateSchema } from './metrics.js';
import { accessGrantSchema, environmentDeleteSchema, environmentUpsertSchema, featureUpsertSchema, organisationUpsertSchema, projectUpsertSchema } from './platform.js';
import { resultsGetBodySchema, resultsGetSchema, resultsRefreshBodySchema, resultsRefreshSchema } from './results.js';
import {
  accessGrantBodySchema,
  attachmentSchema,
  environmentSchema,
  experimentPageSchema,
  experimentSchema,
  featureSchema,
  metricPageSchema,
  metricSchema,
  organisationSchema,
  projectSchema,
} from './resources.js';

// Every command type: its scope, the payload it takes, and the status and body of its successful reply.
// The worker answers exactly these types; the typed client and the AsyncAPI document are derived from here.

export interface CommandContract {
  /** `platform`: a system actor, no environment. `environment`: needs the envelope's `environment`. */
  scope: 'platform' | 'environment';
  payload: z.ZodType;
  /** Status of the successful reply; null for a command that always fails (metric.update: metrics are immutable). */
  status: 200 | 201 | 202 | 204 | null;
  /** Body of the successful reply (`null` for 204). */
  body: z.ZodType;
  summary: string;
}

const noBody = z.null();
const never = z.never();

export const commands = {
  'organisation.upsert': { scope: 'platform', payload: organisationUpsertSchema, status: 200, body: organisationSchema, summary: 'Creates or updates an organisation.' },
  'project.upsert': { scope: 'platform', payload: projectUpsertSchema, status: 200, body: projectSchema, summary: 'Creates or updates a project.' },
  'environment.upsert': { scope: 'platform', payload: environmentUpsertSchema, status: 200, body: environmentSchema, summary: 'Creates or updates an environment, named by its key.' },
  'environment.delete': { scope: 'platform', payload: environmentDeleteSchema, status: 204, body: noBody, summary: 'Deletes an environment.' },
  'feature.upsert': { scope: 'platform', payload: featureUpsertSchema, status: 200, body: featureSchema, summary: 'Creates or updates a feature and its variants.' },
  'access.grant': { scope: 'platform', payload: accessGrantSchema, status: 200, body: accessGrantBodySchema, summary: 'Makes a user admin of an organisation, project or environment.' },
  'access.revoke': { scope: 'platform', payload: accessGrantSchema, status: 204, body: noBody, summary: 'Removes a grant (204 also when there was none).' },
  'metric.create': { scope: 'environment', payload: metricCreateSchema, status: 201, body: metricSchema, summary: 'Creates a metric in the environment.' },
  'metric.get': { scope: 'environment', payload: metricIdSchema, status: 200, body: metricSchema, summary: 'One metric.' },
  'metric.list': { scope: 'environment', payload: metricListSchema, status: 200, body: metricPageSchema, summary: 'A page of metrics, newest first.' },
  'metric.update': { scope: 'environment', payload: metricUpdateSchema, status: null, body: never, summary: 'Always 405: metrics are immutable.' },
  'metric.delete': { scope: 'environment', payload: metricIdSchema, status: 204, body: noBody, summary: 'Deletes a metric no active experiment holds (else 409).' },
  'experiment.create': { scope: 'environment', payload: experimentCreateSchema, status: 201, body: experimentSchema, summary: 'Creates an experiment on a multivariate feature.' },
  'experiment.get': { scope: 'environment', payload: experimentIdSchema, status: 200, body: experimentSchema, summary: 'One experiment.' },
  'experiment.list': { scope: 'environment', payload: experimentListSchema, status: 200, body: experimentPageSchema, summary: 'A page of experiments, newest first.' },
  'experiment.update': { scope: 'environment', payload: experimentUpdatePayloadSchema, status: 200, body: experimentSchema, summary: "Changes an experiment's name or hypothesis." },
  'experiment.start': { scope: 'environment', payload: experimentIdSchema, status: 200, body: experimentSchema, summary: 'created or paused → running.' },
  'experiment.pause': { scope: 'environment', payload: experimentIdSchema, status: 200, body: experimentSchema, summary: 'running → paused.' },
  'experiment.complete': { scope: 'environment', payload: experimentIdSchema, status: 200, body: experimentSchema, summary: 'running or paused → completed.' },
  'experiment.delete': { scope: 'environment', payload: experimentIdSchema, status: 204, body: noBody, summary: 'Deletes an experiment.' },
  'experiment.metric.attach': { scope: 'environment', payload: attachPayloadSchema, status: 201, body: attachmentSchema, summary: 'Attaches a metric to an experiment.' },
  'experiment.metric.get': { scope: 'environment', payload: attachmentIdSchema, status: 200, body: attachmentSchema, summary: 'One attached metric.' },
  'experiment.metric.list': { scope: 'environment', payload: attachmentListSchema, status: 200, body: z.array(attachmentSchema), summary: "An experiment's attached metrics, oldest first." },
  'experiment.metric.update': { scope: 'environment', payload: attachmentUpdatePayloadSchema, status: 200, body: attachmentSchema, summary: "Changes an attached metric's expected direction." },
  'experiment.metric.detach': { scope: 'environment', payload: attachmentIdSchema, status: 204, body: noBody, summary: 'Detaches a metric from an experiment.' },
  'experiment.results.refresh': { scope: 'environment', payload: resultsRefreshSchema, status: 202, body: resultsRefreshBodySchema, summary: "Queues a computation of an experiment's results (429 when too soon)." },
  'experiment.results.get': { scope: 'environment', payload: resultsGetSchema, status: 200, body: resultsGetBodySchema, summary: "An experiment's stored results." },
} as const satisfies Record<string, CommandContract>;

type Commands = typeof commands;
export type CommandType = keyof Commands;
export const COMMAND_TYPES = Object.keys(commands) as CommandType[];

/** What a sender puts in `payload` (defaults may be left out). */
export type CommandPayload<T extends CommandType> = z.input<Commands[T]['payload']>;
/** The status of the successful reply (never for metric.update). */
export type CommandSuccessStatus<T extends CommandType> = Exclude<Commands[T]['status'], null>;
/** The body of the successful reply. */
export type CommandReplyBody<T extends CommandType> = z.output<Commands[T]['body']>;

/** Command type → payload, successful status and reply body. */
export type CommandMap = { [T in CommandType]: { payload: CommandPayload<T>; status: CommandSuccessStatus<T>; reply: CommandReplyBody<T> } };

export const ERROR_STATUSES = [400, 401, 403, 404, 405, 409, 429, 500] as const;
export type ErrorStatus = (typeof ERROR_STATUSES)[number];
