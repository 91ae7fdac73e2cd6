// Installs the contract's error wording before any schema is used.
import './errors.js';

// The wire shapes live in the client package (packages/client), the one source of message shapes.
export { actorSchema, commandEnvelopeSchema, eventSchema, replySchema } from '@experimentation-worker/client/contracts';
export type { Actor, CommandEnvelope, DomainEvent, ErrorBody, Reply } from '@experimentation-worker/client/contracts';
