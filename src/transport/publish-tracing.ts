import type { Message } from 'kafkajs';
import { TRACEPARENT_HEADER } from '../contracts/trace-context.js';

// How the worker's publishers (the outbox relay, the reply publisher) keep a message in the trace of the command
// that produced it. The tracing itself is src/telemetry's (wired in app.ts); transport only knows this shape.

/** The producer span of one message: the traceparent to send it with, and the span's end once the send settled. */
export interface PublishSpan {
  traceparent: string | undefined;
  end(error?: unknown): void;
}

export interface PublishTracing {
  /** A producer span for a message to `topic` in the trace `traceparent` (none when the message has no trace). */
  span(topic: string, traceparent: string | undefined): PublishSpan;
  /**
   * Runs a produce request so that library instrumentation adds no spans or `traceparent` headers of its own: a
   * request holds the messages of many commands, each already in its own trace.
   */
  send<T>(request: () => Promise<T>): Promise<T>;
}

/** No spans: each message goes out with the traceparent it was given. */
export const untracedPublishing: PublishTracing = { span: (_topic, traceparent) => ({ traceparent, end() {} }), send: (request) => request() };

const headerText = (value: unknown): string | undefined => (typeof value === 'string' ? value : Buffer.isBuffer(value) ? value.toString('utf8') : undefined);

/**
 * Sends `messages` (each with the traceparent header of its trace, if any) in one request: each gets a producer
 * span, and goes out with that span's traceparent. `request` receives the messages to send, in the same order.
 */
export async function sendTraced<T>(tracing: PublishTracing, messages: ReadonlyArray<{ topic: string; message: Message }>, request: (messages: Message[]) => Promise<T>): Promise<T> {
  const spans = messages.map(({ topic, message }) => tracing.span(topic, headerText(message.headers?.[TRACEPARENT_HEADER])));
  const sent = messages.map(({ message }, i) => {
    const traceparent = spans[i]!.traceparent;
    return traceparent ? { ...message, headers: { ...message.headers, [TRACEPARENT_HEADER]: traceparent } } : message;
  });
  try {
    const result = await tracing.send(() => request(sent));
    for (const span of spans) span.end();
    return result;
  } catch (error) {
    for (const span of spans) span.end(error);
    throw error;
  }
}
