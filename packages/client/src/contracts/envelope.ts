import { z } from 'zod';

// The wire shapes every message shares: the command envelope, the reply and the event.

/** Who a command is from. A `user` signing key may only sign commands of a user actor. */
export const actorSchema = z.object({
  type: z.enum(['user', 'system']),
  id: z.string().min(1).max(255),
});
export type Actor = z.infer<typeof actorSchema>;

/** A Kafka topic name, as the worker accepts it in `replyTo`. */
export const TOPIC_NAME = /^[A-Za-z0-9._-]{1,249}$/;

export const commandEnvelopeSchema = z.object({
  /** The idempotency key: a command id seen before is not applied again; its stored reply is sent again. */
  id: z.uuid(),
  type: z.string().min(1).max(100),
  /** Required by environment-scoped commands; platform commands leave it out. */
  environment: z.string().min(1).max(255).optional(),
  actor: actorSchema,
  payload: z.unknown().optional(),
  replyTo: z.string().regex(TOPIC_NAME, 'Not a valid Kafka topic name.').optional(),
  correlationId: z.string().max(1000).optional(),
  sentAt: z.iso.datetime({ offset: true }).optional(),
});
export type CommandEnvelope = z.infer<typeof commandEnvelopeSchema>;

export const replySchema = z.object({
  commandId: z.string(),
  correlationId: z.string().optional(),
  type: z.string(),
  /** HTTP meanings: 2xx applied, 4xx refused (nothing applied), 500 failed after every retry. */
  status: z.number().int(),
  body: z.unknown(),
  processedAt: z.string(),
});
export type Reply = z.infer<typeof replySchema>;

export const eventSchema = z.object({
  /** Events are delivered at least once: deduplicate by id. */
  id: z.uuid(),
  type: z.string(),
  environment: z.string().nullable(),
  occurredAt: z.string(),
  commandId: z.string().nullable(),
  actor: actorSchema.nullable(),
  data: z.unknown(),
});
export type DomainEvent = z.infer<typeof eventSchema>;

/** Kafka headers of the messages: signing headers of commands, the echoed correlation id of replies, W3C trace context. */
export const HEADERS = {
  keyId: 'x-key-id',
  signature: 'x-signature',
  correlationId: 'correlation-id',
  traceparent: 'traceparent',
} as const;
