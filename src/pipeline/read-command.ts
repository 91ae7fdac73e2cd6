import { commandEnvelopeSchema, type CommandEnvelope, type ErrorBody } from '../contracts/envelope.js';
import { fieldErrors } from '../contracts/errors.js';
import { createHash } from 'node:crypto';
import type { CommandKey, Config } from '../config.js';
import type { CommandHandler } from '../handlers/types.js';
import { canonicalJson } from '../domain/canonical-json.js';
import { readTraceContext, type TraceContext } from '../contracts/trace-context.js';
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

/** A command or rejection carries the message's trace context (its `traceparent` header), when it has a valid one. */
export type ReadOutcome =
  | { kind: 'command'; envelope: CommandEnvelope; handler: CommandHandler; payload: unknown; fingerprint: string; trace?: TraceContext }
  | { kind: 'reject'; address: ReplyAddress; status: 400 | 401; body: ErrorBody; trace?: TraceContext }
  | { kind: 'dlq'; reason: string };

/** What reading a command depends on: the signing keys, the known types and the limits of CONTRACT.md. */
export interface CommandReadPolicy {
  keys: CommandKey[];
  handlers: ReadonlyMap<string, CommandHandler>;
  maxBytes: number;
  isAllowedReplyTopic: (topic: string) => boolean;
}

export const LIMIT_MESSAGES = {
  tooLarge: 'Command message is too large.',
  replyTopic: 'Not an allowed reply topic.',
} as const;

/**
 * CONTRACT.md "Reply topics": a reply goes to `replyTo` only when it matches REPLY_TOPIC_PATTERN, is not an
 * internal (`__`) topic and is none of the worker's own input or output topics.
 */
export function commandReadPolicy(
  config: Pick<Config, 'COMMAND_KEYS' | 'COMMAND_MAX_BYTES' | 'REPLY_TOPIC_PATTERN' | 'COMMANDS_TOPIC' | 'EVENTS_TOPIC' | 'TRACKING_TOPIC' | 'DLQ_TOPIC' | 'TRACKING_DLQ_TOPIC'>,
  handlers: ReadonlyMap<string, CommandHandler>,
): CommandReadPolicy {
  const own = new Set([config.COMMANDS_TOPIC, config.EVENTS_TOPIC, config.TRACKING_TOPIC, config.DLQ_TOPIC, config.TRACKING_DLQ_TOPIC]);
  return {
    keys: config.COMMAND_KEYS,
    handlers,
    maxBytes: config.COMMAND_MAX_BYTES,
    isAllowedReplyTopic: (topic) => config.REPLY_TOPIC_PATTERN.test(topic) && !topic.startsWith('__') && !own.has(topic),
  };
}

/**
 * The fingerprint of a command (CONTRACT.md): signing key id, type, environment, actor and payload as canonical
 * JSON, hashed. `sentAt`, `correlationId` and `replyTo` are left out, so a client may resend with a new `sentAt`.
 */
export function commandFingerprint(keyId: string, envelope: Pick<CommandEnvelope, 'type' | 'environment' | 'actor' | 'payload'>): string {
  const fields = { keyId, type: envelope.type, environment: envelope.environment ?? null, actor: envelope.actor, payload: envelope.payload ?? null };
  return createHash('sha256').update(canonicalJson(fields)).digest('hex');
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function readCommand(message: RawCommandMessage, policy: CommandReadPolicy): ReadOutcome {
  const outcome = readEnvelope(message, policy);
  const trace = outcome.kind === 'dlq' ? undefined : readTraceContext(message.headers);
  return trace && outcome.kind !== 'dlq' ? { ...outcome, trace } : outcome;
}

function readEnvelope(message: RawCommandMessage, policy: CommandReadPolicy): ReadOutcome {
  const { keys, handlers } = policy;
  const size = message.value?.length ?? 0;
  if (size > policy.maxBytes) {
    // Not parsed: only searched (linear regular expressions) for an address to answer.
    const address = readAddressFromText(message.value!.toString('utf8'), policy);
    if (!address) return { kind: 'dlq', reason: `too large (${size} bytes) and no readable id` };
    return { kind: 'reject', address, status: 400, body: { detail: LIMIT_MESSAGES.tooLarge } };
  }
  const text = message.value?.toString('utf8') ?? '';
  let json: unknown;
  let jsonError: string | undefined;
  try {
    json = JSON.parse(text);
  } catch (error) {
    jsonError = (error as Error).message;
  }
  const address = readAddress(json, text, policy);
  if (!address) return { kind: 'dlq', reason: jsonError ? `not JSON and no readable id: ${jsonError}` : 'no readable command id' };

  const signature = verifySignature(message.value ?? Buffer.alloc(0), message.headers['x-key-id'], message.headers['x-signature'], keys);
  if (!signature.ok) return { kind: 'reject', address, status: 401, body: { detail: signature.reason } };
  if (jsonError !== undefined) return { kind: 'reject', address, status: 400, body: { detail: `Malformed JSON: ${jsonError}` } };

  const replyTo = (json as { replyTo?: unknown } | null)?.replyTo;
  const replyToRefused = replyTo !== undefined && (typeof replyTo !== 'string' || !policy.isAllowedReplyTopic(replyTo));
  const envelope = commandEnvelopeSchema.safeParse(json);
  if (!envelope.success || replyToRefused) {
    const body = envelope.success ? {} : fieldErrors(envelope.error);
    if (replyToRefused) body.replyTo = [LIMIT_MESSAGES.replyTopic];
    return { kind: 'reject', address, status: 400, body };
  }
  if (!keyMaySign(signature.key, envelope.data.actor.type)) {
    return { kind: 'reject', address, status: 401, body: { detail: 'This key may not sign commands for a system actor.' } };
  }
  const handler = handlers.get(envelope.data.type);
  if (!handler) return { kind: 'reject', address, status: 400, body: { type: [`Unknown command type '${envelope.data.type}'.`] } };
  return { kind: 'command', envelope: envelope.data, handler, payload: envelope.data.payload, fingerprint: commandFingerprint(signature.key.keyId, envelope.data) };
}

/** The id (and reply address) of a message, read from its JSON, or from its text when it is not JSON. */
function readAddress(json: unknown, text: string, policy: CommandReadPolicy): ReplyAddress | undefined {
  if (json === undefined) return readAddressFromText(text, policy);
  if (typeof json !== 'object' || json === null) return undefined;
  const o = json as Record<string, unknown>;
  if (typeof o.id !== 'string' || !UUID.test(o.id)) return undefined;
  return {
    commandId: o.id,
    type: typeof o.type === 'string' ? o.type.slice(0, 100) : 'unknown',
    replyTo: typeof o.replyTo === 'string' && policy.isAllowedReplyTopic(o.replyTo) ? o.replyTo : undefined,
    correlationId: typeof o.correlationId === 'string' ? o.correlationId.slice(0, 1000) : undefined,
  };
}

/** Broken or unparsed JSON: a truncated or hand-edited envelope usually still shows its fields as text. */
function readAddressFromText(text: string, policy: CommandReadPolicy): ReplyAddress | undefined {
  const id = /"id"\s*:\s*"([0-9a-fA-F-]{36})"/.exec(text)?.[1];
  if (!id || !UUID.test(id)) return undefined;
  const replyTo = /"replyTo"\s*:\s*"([^"\\]{1,249})"/.exec(text)?.[1];
  const correlationId = /"correlationId"\s*:\s*"([^"\\]{0,1000})"/.exec(text)?.[1];
  const type = /"type"\s*:\s*"([^"\\]{1,100})"/.exec(text)?.[1];
  return { commandId: id, type: type ?? 'unknown', replyTo: replyTo && policy.isAllowedReplyTopic(replyTo) ? replyTo : undefined, correlationId };
}
