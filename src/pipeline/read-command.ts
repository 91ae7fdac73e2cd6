import { commandEnvelopeSchema, type CommandEnvelope, type ErrorBody } from '../contracts/envelope.js';
import { fieldErrors } from '../contracts/errors.js';
import type { CommandKey } from '../config.js';
import type { CommandHandler } from '../handlers/types.js';
import { keyMaySign, verifySignature } from './signature.js';

// Turns the raw bytes of a commands-topic message into one of three outcomes, with no I/O:
// a command to execute, an early rejection to answer (nothing applied), or a message for the DLQ.

export interface RawCommandMessage {
  value: Buffer | null;
  headers: Record<string, string | undefined>;
}

/** Where a reply goes and what it echoes: read from the envelope, as much of it as is readable. */
export interface ReplyAddress {
  commandId: string;
  type: string;
  replyTo?: string | undefined;
  correlationId?: string | undefined;
}

export type ReadOutcome =
  | { kind: 'command'; envelope: CommandEnvelope; handler: CommandHandler; payload: unknown }
  | { kind: 'reject'; address: ReplyAddress; status: 400 | 401; body: ErrorBody }
  | { kind: 'dlq'; reason: string };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const TOPIC = /^[A-Za-z0-9._-]{1,249}$/;

export function readCommand(message: RawCommandMessage, keys: CommandKey[], handlers: ReadonlyMap<string, CommandHandler>): ReadOutcome {
  const text = message.value?.toString('utf8') ?? '';
  let json: unknown;
  let jsonError: string | undefined;
  try {
    json = JSON.parse(text);
  } catch (error) {
    jsonError = (error as Error).message;
  }
  const address = readAddress(json, text);
  if (!address) return { kind: 'dlq', reason: jsonError ? `not JSON and no readable id: ${jsonError}` : 'no readable command id' };

  const signature = verifySignature(message.value ?? Buffer.alloc(0), message.headers['x-key-id'], message.headers['x-signature'], keys);
  if (!signature.ok) return { kind: 'reject', address, status: 401, body: { detail: signature.reason } };
  if (jsonError !== undefined) return { kind: 'reject', address, status: 400, body: { detail: `Malformed JSON: ${jsonError}` } };

  const envelope = commandEnvelopeSchema.safeParse(json);
  if (!envelope.success) return { kind: 'reject', address, status: 400, body: fieldErrors(envelope.error) };
  if (!keyMaySign(signature.key, envelope.data.actor.type)) {
    return { kind: 'reject', address, status: 401, body: { detail: 'This key may not sign commands for a system actor.' } };
  }
  const handler = handlers.get(envelope.data.type);
  if (!handler) return { kind: 'reject', address, status: 400, body: { type: [`Unknown command type '${envelope.data.type}'.`] } };
  return { kind: 'command', envelope: envelope.data, handler, payload: envelope.data.payload };
}

/** The id (and reply address) of a message, read from its JSON, or from its text when it is not JSON. */
function readAddress(json: unknown, text: string): ReplyAddress | undefined {
  if (json !== undefined) {
    if (typeof json !== 'object' || json === null) return undefined;
    const o = json as Record<string, unknown>;
    if (typeof o.id !== 'string' || !UUID.test(o.id)) return undefined;
    return {
      commandId: o.id,
      type: typeof o.type === 'string' ? o.type.slice(0, 100) : 'unknown',
      replyTo: typeof o.replyTo === 'string' && TOPIC.test(o.replyTo) ? o.replyTo : undefined,
      correlationId: typeof o.correlationId === 'string' ? o.correlationId.slice(0, 1000) : undefined,
    };
  }
  // Broken JSON: a truncated or hand-edited envelope usually still shows its fields as text.
  const id = /"id"\s*:\s*"([0-9a-fA-F-]{36})"/.exec(text)?.[1];
  if (!id || !UUID.test(id)) return undefined;
  const replyTo = /"replyTo"\s*:\s*"([A-Za-z0-9._-]{1,249})"/.exec(text)?.[1];
  const correlationId = /"correlationId"\s*:\s*"([^"\\]{0,1000})"/.exec(text)?.[1];
  const type = /"type"\s*:\s*"([^"\\]{1,100})"/.exec(text)?.[1];
  return { commandId: id, type: type ?? 'unknown', replyTo, correlationId };
}
