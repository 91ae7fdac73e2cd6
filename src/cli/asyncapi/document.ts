import { z } from 'zod';
import {
  commandEnvelopeSchema,
  commands,
  ERROR_STATUSES,
  errorBodySchema,
  events,
  eventSchema,
  HEADERS,
  replySchema,
  trackingEventSchema,
  type CommandContract,
  type CommandType,
} from '@experimentation-worker/client/contracts';
import clientPackage from '../../../packages/client/package.json' with { type: 'json' };

// The AsyncAPI 3.0 document of the worker's Kafka API and one JSON Schema per message, generated from the zod
// contracts of the client package (z.toJSONSchema), so they cannot drift from what the worker parses and sends.
// The application described is the worker: it receives commands and tracking events, and sends replies, events
// and dead letters.

export interface Topics {
  COMMANDS_TOPIC: string;
  REPLIES_TOPIC: string;
  EVENTS_TOPIC: string;
  TRACKING_TOPIC: string;
  DLQ_TOPIC: string;
  TRACKING_DLQ_TOPIC: string;
}

type JsonSchema = Record<string, unknown>;

export interface GeneratedMessage {
  /** Id under components.messages, e.g. `metricCreateCommand`. */
  id: string;
  /** File under docs/schemas/, e.g. `command.metric.create.json`. */
  file: string;
  channel: 'commands' | 'replies' | 'events' | 'tracking' | 'commandsDlq' | 'trackingDlq';
  name: string;
  title: string;
  summary: string;
  headers: string;
  schema: JsonSchema;
}

const camel = (type: string) => type.replace(/[._]([a-z])/g, (_, c: string) => c.toUpperCase());

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { target: 'draft-7', io }) as JsonSchema;
  return rest;
}

const traceparent = {
  type: 'string',
  description: 'W3C trace context of the span that produced the message, when tracing is on.',
  pattern: '^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$',
};

const headerSchemas: Record<string, JsonSchema> = {
  commandHeaders: {
    type: 'object',
    description: 'A command without a valid signature is answered 401 and applies nothing.',
    properties: {
      [HEADERS.keyId]: { type: 'string', description: 'Id of the signing key (an entry of the worker\'s COMMAND_KEYS).' },
      [HEADERS.signature]: { type: 'string', description: 'sha256=<hex>: HMAC-SHA256 of the exact message value bytes with the key\'s secret.', pattern: '^sha256=[0-9a-f]{64}$' },
      [HEADERS.traceparent]: { ...traceparent, description: 'W3C trace context: the parent of the span that applies the command.' },
    },
    required: [HEADERS.keyId, HEADERS.signature],
  },
  replyHeaders: {
    type: 'object',
    properties: {
      [HEADERS.correlationId]: { type: 'string', description: "The command envelope's correlationId, when it had one." },
      [HEADERS.traceparent]: traceparent,
    },
  },
  eventHeaders: { type: 'object', properties: { [HEADERS.traceparent]: traceparent } },
  trackingHeaders: { type: 'object', description: 'Tracking events are not signed.', properties: { [HEADERS.traceparent]: traceparent } },
  deadLetterHeaders: {
    type: 'object',
    description: 'The original message headers, plus these.',
    properties: {
      'x-dlq-reason': { type: 'string', description: 'Why the message was not read, e.g. "not JSON".' },
      'x-dlq-source': { type: 'string', description: 'tracking, on the tracking DLQ.' },
      'x-original-topic': { type: 'string' },
      'x-original-partition': { type: 'string' },
      'x-original-offset': { type: 'string' },
    },
    required: ['x-dlq-reason', 'x-original-topic', 'x-original-partition', 'x-original-offset'],
  },
};

function commandMessage(type: CommandType, contract: CommandContract): GeneratedMessage {
  const envelope = commandEnvelopeSchema.extend({
    type: z.literal(type),
    ...(contract.scope === 'environment' ? { environment: z.string().min(1).max(255) } : {}),
    payload: contract.payload,
  });
  return {
    id: `${camel(type)}Command`,
    file: `command.${type}.json`,
    channel: 'commands',
    name: type,
    title: `${type} command`,
    summary: contract.summary,
    headers: 'commandHeaders',
    schema: { title: `${type} command`, ...jsonSchema(envelope, 'input') },
  };
}

function replyMessage(type: CommandType, contract: CommandContract): GeneratedMessage {
  const statuses: number[] = [...(contract.status === null ? [] : [contract.status]), ...ERROR_STATUSES];
  const body = contract.status === null ? errorBodySchema : z.union([contract.body, errorBodySchema]);
  const reply = replySchema.extend({ type: z.literal(type), status: z.literal(statuses), body });
  const ok = contract.status === null ? 'never succeeds' : `${contract.status} on success`;
  return {
    id: `${camel(type)}Reply`,
    file: `reply.${type}.json`,
    channel: 'replies',
    name: `${type} reply`,
    title: `${type} reply`,
    summary: `The reply to ${type} (${ok}; an error body otherwise).`,
    headers: 'replyHeaders',
    schema: { title: `${type} reply`, ...jsonSchema(reply, 'output') },
  };
}

function eventMessage(type: string, data: z.ZodType): GeneratedMessage {
  const event = eventSchema.extend({ type: z.literal(type), data });
  return {
    id: `${camel(type)}Event`,
    file: `event.${type}.json`,
    channel: 'events',
    name: type,
    title: `${type} event`,
    summary: type === 'command.rejected' ? 'A command was refused: its reply status and body.' : `${type}: data is the resource as replies show it.`,
    headers: 'eventHeaders',
    schema: { title: `${type} event`, ...jsonSchema(event, 'output') },
  };
}

const trackingMessage: () => GeneratedMessage = () => ({
  id: 'trackingEvent',
  file: 'tracking.event.json',
  channel: 'tracking',
  name: 'tracking event',
  title: 'Tracking event',
  summary: "An exposure (event named as the experiment's exposureEvent, feature and variant key as value) or a metric event.",
  headers: 'trackingHeaders',
  schema: { title: 'Tracking event', ...jsonSchema(trackingEventSchema, 'input') },
});

function deadLetterMessage(channel: 'commandsDlq' | 'trackingDlq'): GeneratedMessage {
  const of = channel === 'commandsDlq' ? 'commands' : 'tracking';
  return {
    id: `${channel}DeadLetter`,
    file: `dlq.${of}.json`,
    channel,
    name: `${of} dead letter`,
    title: `${of} dead letter`,
    summary: `A message of the ${of} topic the worker could not read, with its original key, value and headers.`,
    headers: 'deadLetterHeaders',
    schema: { title: `${of} dead letter`, description: 'The original message value, byte for byte (not necessarily JSON).' },
  };
}

/** Every message of the API, in document order. */
export function generatedMessages(): GeneratedMessage[] {
  const entries = Object.entries(commands) as [CommandType, CommandContract][];
  return [
    ...entries.map(([type, contract]) => commandMessage(type, contract)),
    ...entries.map(([type, contract]) => replyMessage(type, contract)),
    ...Object.entries(events).map(([type, data]) => eventMessage(type, data)),
    trackingMessage(),
    deadLetterMessage('commandsDlq'),
    deadLetterMessage('trackingDlq'),
  ];
}

const CHANNELS: Record<GeneratedMessage['channel'], { topic: keyof Topics; description: string }> = {
  commands: { topic: 'COMMANDS_TOPIC', description: 'Signed command envelopes, keyed by environment (platform commands: by organisation id). Commands of one key are applied in order.' },
  replies: { topic: 'REPLIES_TOPIC', description: "One reply per command (again for a duplicate id), keyed by command id: to the command's replyTo, else to this topic." },
  events: { topic: 'EVENTS_TOPIC', description: 'Domain events from the transactional outbox, keyed like the commands, at least once: deduplicate by id.' },
  tracking: { topic: 'TRACKING_TOPIC', description: 'Exposures and metric events from SDKs, unsigned.' },
  commandsDlq: { topic: 'DLQ_TOPIC', description: 'Messages of the commands topic whose id could not be read (others get a 400 reply).' },
  trackingDlq: { topic: 'TRACKING_DLQ_TOPIC', description: 'Rejected tracking events, with the reason.' },
};

const ref = (path: string) => ({ $ref: `#/${path}` });

/** The AsyncAPI 3.0 document, for the worker's topic names (its defaults unless configured). */
export function asyncApiDocument(topics: Topics): Record<string, unknown> {
  const messages = generatedMessages();
  const byChannel = (channel: GeneratedMessage['channel']) =>
    Object.fromEntries(messages.filter((m) => m.channel === channel).map((m) => [m.id, ref(`components/messages/${m.id}`)]));
  const channels = Object.fromEntries(
    Object.entries(CHANNELS).map(([name, { topic, description }]) => [
      name,
      { address: topics[topic], title: topic, description, messages: byChannel(name as GeneratedMessage['channel']) },
    ]),
  );
  const channelMessage = (channel: string, id: string) => ref(`channels/${channel}/messages/${id}`);
  const commandOperations = Object.entries(commands).map(([type, contract]) => [
    camel(type),
    {
      action: 'receive',
      channel: ref('channels/commands'),
      title: type,
      summary: contract.summary,
      messages: [channelMessage('commands', `${camel(type)}Command`)],
      reply: {
        address: { location: '$message.payload#/replyTo', description: "The command's replyTo when it is an allowed topic, else the replies topic." },
        channel: ref('channels/replies'),
        messages: [channelMessage('replies', `${camel(type)}Reply`)],
      },
    },
  ]);
  const sendAll = (channel: GeneratedMessage['channel'], action: 'send' | 'receive', summary: string) => ({
    action,
    channel: ref(`channels/${channel}`),
    summary,
    messages: messages.filter((m) => m.channel === channel).map((m) => channelMessage(channel, m.id)),
  });
  return {
    asyncapi: '3.0.0',
    info: {
      title: 'Experimentation worker',
      version: clientPackage.version,
      description:
        'The Kafka API of the experimentation worker: signed commands in, replies and events out, tracking events in, ' +
        'and the dead-letter topics. Generated from the zod contracts of @experimentation-worker/client by `npm run docs:asyncapi`; ' +
        'topic names are the defaults (each is configurable). Reply and error statuses use HTTP meanings.',
      license: { name: 'MIT' },
    },
    defaultContentType: 'application/json',
    servers: {
      local: { host: '127.0.0.1:9092', protocol: 'kafka', description: 'The broker of `npm start` (KAFKA_BROKERS).' },
    },
    channels,
    operations: {
      ...Object.fromEntries(commandOperations),
      publishEvents: sendAll('events', 'send', 'Publishes the domain events.'),
      receiveTracking: sendAll('tracking', 'receive', 'Stores tracking events for results.'),
      sendCommandDeadLetters: sendAll('commandsDlq', 'send', 'Copies unreadable commands to the commands DLQ.'),
      sendTrackingDeadLetters: sendAll('trackingDlq', 'send', 'Copies rejected tracking events to the tracking DLQ.'),
    },
    components: {
      messages: Object.fromEntries(
        messages.map((m) => [
          m.id,
          {
            name: m.name,
            title: m.title,
            summary: m.summary,
            contentType: m.channel.endsWith('Dlq') ? 'application/octet-stream' : 'application/json',
            headers: ref(`components/schemas/${m.headers}`),
            payload: ref(`components/schemas/${m.id}`),
            ...(m.channel === 'commands' || m.channel === 'replies'
              ? { correlationId: { location: m.channel === 'commands' ? '$message.payload#/id' : '$message.payload#/commandId' } }
              : {}),
          },
        ]),
      ),
      schemas: { ...headerSchemas, ...Object.fromEntries(messages.map((m) => [m.id, m.schema])) },
    },
  };
}

/** The standalone JSON Schema of a message, as written to docs/schemas/. */
export function messageSchemaFile(message: GeneratedMessage): Record<string, unknown> {
  return { $schema: 'http://json-schema.org/draft-07/schema#', ...message.schema };
}
