import { z } from 'zod';
import type { DomainEvent } from './envelope.js';
import { errorBodySchema } from './errors.js';
import { resultsSchema } from './results.js';
import { accessGrantBodySchema, attachmentSchema, environmentSchema, experimentSchema, featureSchema, metricSchema, organisationSchema, projectSchema } from './resources.js';

// Every event type, with its `data`: the resource as a reply shows it (after the change; before it for deletions).

const resultsEventData = z.object({ experimentId: z.number().int(), ...resultsSchema.shape });

export const events = {
  'organisation.upserted': organisationSchema,
  'project.upserted': projectSchema,
  'environment.upserted': environmentSchema,
  'environment.deleted': environmentSchema,
  'feature.upserted': featureSchema,
  'access.granted': accessGrantBodySchema,
  'access.revoked': accessGrantBodySchema,
  'metric.created': metricSchema,
  'metric.deleted': metricSchema,
  'experiment.created': experimentSchema,
  'experiment.updated': experimentSchema,
  'experiment.started': experimentSchema,
  'experiment.paused': experimentSchema,
  'experiment.completed': experimentSchema,
  'experiment.deleted': experimentSchema,
  'experiment.metric.attached': attachmentSchema,
  'experiment.metric.updated': attachmentSchema,
  'experiment.metric.detached': attachmentSchema,
  'experiment.results.computed': resultsEventData,
  'experiment.results.failed': resultsEventData.extend({ error: z.string() }),
  /** A command refused after its signature was checked: its reply's status and body. */
  'command.rejected': z.object({ status: z.number().int(), body: errorBodySchema }),
} as const satisfies Record<string, z.ZodType>;

export type EventType = keyof typeof events;
export const EVENT_TYPES = Object.keys(events) as EventType[];
export type EventData<T extends EventType> = z.output<(typeof events)[T]>;
/** An event of a known type, with typed `data`. */
export type TypedEvent<T extends EventType> = Omit<DomainEvent, 'type' | 'data'> & { type: T; data: EventData<T> };
