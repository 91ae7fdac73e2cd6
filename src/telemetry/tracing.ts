import { ROOT_CONTEXT, SpanKind, SpanStatusCode, context, createTraceState, trace, type Context, type Span } from '@opentelemetry/api';
import { suppressTracing } from '@opentelemetry/core';
import { formatTraceparent, parseTraceparent, type TraceContext } from '../contracts/trace-context.js';
import type { CommandTracing } from '../pipeline/ports.js';
import type { PublishTracing } from '../transport/publish-tracing.js';

// The worker's own spans, through the OpenTelemetry API only. Without an SDK the API's tracer makes no spans: a
// "child" span then carries its parent's context, so a command's traceparent reaches its reply and events
// unchanged, and that costs an object or two per message.

export const TRACER_NAME = 'experimentation-worker';
const tracer = () => trace.getTracer(TRACER_NAME);

/** A context whose current span is the remote one `trace` names; the root context when it names none. */
function remoteParent(traceContext: TraceContext | undefined): Context {
  const parsed = parseTraceparent(traceContext?.traceparent);
  if (!parsed) return ROOT_CONTEXT;
  const traceState = traceContext?.tracestate ? createTraceState(traceContext.tracestate) : undefined;
  return trace.setSpanContext(ROOT_CONTEXT, { ...parsed, isRemote: true, ...(traceState ? { traceState } : {}) });
}

function traceparentOf(span: Span): string | undefined {
  const spanContext = span.spanContext();
  return trace.isSpanContextValid(spanContext) ? formatTraceparent(spanContext) : undefined;
}

function endWithError(span: Span, error: unknown): void {
  span.recordException(error instanceof Error ? error : String(error));
  span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error)?.message ?? String(error) });
}

/**
 * A span "command <type>" per executed command, child of the message's traceparent (a new trace without one),
 * around everything the command does in Postgres; its reply and events are published in it.
 */
export const commandTracing: CommandTracing = {
  async command(command, work, statusOf) {
    const parent = remoteParent(command.trace);
    const span = tracer().startSpan(
      `command ${command.type}`,
      {
        kind: SpanKind.CONSUMER,
        attributes: {
          'command.id': command.id,
          'command.type': command.type,
          'command.key': command.key,
          ...(command.environment !== undefined ? { 'command.environment': command.environment } : {}),
          'messaging.system': 'kafka',
        },
      },
      parent,
    );
    try {
      const result = await context.with(trace.setSpan(parent, span), () => work(traceparentOf(span)));
      const status = statusOf(result);
      if (status === undefined) span.setAttribute('command.held', true);
      else {
        span.setAttribute('command.status', status);
        if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR, message: `answered ${status}` });
      }
      return result;
    } catch (error) {
      endWithError(span, error);
      throw error;
    } finally {
      span.end();
    }
  },
};

/** A short producer span "publish <topic>" per event or reply that has a trace, child of its command's span. */
export const publishTracing: PublishTracing = {
  span(topic, traceparent) {
    if (traceparent === undefined) return { traceparent, end() {} };
    const span = tracer().startSpan(
      `publish ${topic}`,
      { kind: SpanKind.PRODUCER, attributes: { 'messaging.system': 'kafka', 'messaging.operation.type': 'send', 'messaging.destination.name': topic } },
      remoteParent({ traceparent }),
    );
    return {
      traceparent: traceparentOf(span) ?? traceparent,
      end(error?: unknown) {
        if (error !== undefined) endWithError(span, error);
        span.end();
      },
    };
  },
  // The kafkajs instrumentation would give every message of the request a span under one parent, and overwrite
  // each message's traceparent with it; a request holds many commands' messages, so it is kept out.
  send: (request) => context.with(suppressTracing(context.active()), request),
};
