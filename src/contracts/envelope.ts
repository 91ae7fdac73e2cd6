import { z } from 'zod';
// Installs the contract's error wording before any schema is used.
import './errors.js';

// CONTRACT.md "Command envelope", "Reply" and "Event": the wire shapes, checked at the edge.

export const actorSchema = z.object({
  type: z.enum(['user', 'system']),
  id: z.string().min(1).max(255),
});
export type Actor = z.infer<typeof actorSchema>;

export const commandEnvelopeSchema = z.object({
  id: z.uuid(),
  type: z.string().min(1).max(100),
  environment: z.string().min(1).max(255).optional(),
  actor: actorSchema,
  payload: z.unknown().optional(),
  replyTo: z.string().regex(/^[A-Za-z0-9._-]{1,249}$/, 'Not a valid Kafka topic name.').optional(),
  correlationId: z.string().max(1000).optional(),
  sentAt: z.iso.datetime({ offset: true }).optional(),
});
export type CommandEnvelope = z.infer<typeof commandEnvelopeSchema>;

export const replySchema = z.object({
  commandId: z.string(),
  correlationId: z.string().optional(),
  type: z.string(),
  status: z.number().int(),
  body: z.unknown(),
  processedAt: z.string(),
});
export type Reply = z.infer<typeof replySchema>;

export const eventSchema = z.object({
  id: z.uuid(),
  type: z.string(),
  environment: z.string().nullable(),
  occurredAt: z.string(),
  commandId: z.string().nullable(),
  actor: actorSchema.nullable(),
  data: z.unknown(),
});
export type DomainEvent = z.infer<typeof eventSchema>;

/** Error body per CONTRACT.md: `{detail}` or `{field: [messages]}` with `nonFieldErrors` for the rest. */
export type ErrorBody = { detail: string } | Record<string, string[]>;
