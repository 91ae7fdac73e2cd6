// W3C Trace Context (https://www.w3.org/TR/trace-context/) as it travels in Kafka headers: a command's
// `traceparent` (and `tracestate`) header names the trace it belongs to, and the replies and events it produces
// carry a `traceparent` of the same trace. Pure parsing and formatting, no OpenTelemetry: the pipeline passes the
// value on even when the worker traces nothing.

export const TRACEPARENT_HEADER = 'traceparent';
export const TRACESTATE_HEADER = 'tracestate';

/** The trace context of one message, as read from its headers. */
export interface TraceContext {
  traceparent: string;
  tracestate?: string;
}

export interface ParsedTraceparent {
  traceId: string;
  spanId: string;
  /** The trace-flags byte (bit 0: sampled). */
  traceFlags: number;
}

// version-traceid-parentid-flags; a later version may append fields after a dash, which are ignored (W3C §4.3).
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const MAX_TRACESTATE_LENGTH = 512;

/** The fields of a `traceparent` value, or undefined when it is not a valid one (then it is ignored, not passed on). */
export function parseTraceparent(value: string | undefined): ParsedTraceparent | undefined {
  if (value === undefined || value.length > 512) return undefined;
  const match = TRACEPARENT.exec(value.trim());
  if (!match) return undefined;
  const [, version, traceId, spanId, flags, rest] = match as unknown as [string, string, string, string, string, string | undefined];
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined;
  if (/^0+$/.test(traceId) || /^0+$/.test(spanId)) return undefined;
  return { traceId, spanId, traceFlags: parseInt(flags, 16) };
}

/** A `traceparent` value of version 00. */
export function formatTraceparent({ traceId, spanId, traceFlags }: ParsedTraceparent): string {
  return `00-${traceId}-${spanId}-${(traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}

/**
 * The trace context of a message's headers: its `traceparent` normalised to version 00 (undefined when absent or
 * invalid), with its `tracestate` when that is of a sane length.
 */
export function readTraceContext(headers: Record<string, string | undefined>): TraceContext | undefined {
  const parsed = parseTraceparent(headers[TRACEPARENT_HEADER]);
  if (!parsed) return undefined;
  const tracestate = headers[TRACESTATE_HEADER]?.trim();
  return {
    traceparent: formatTraceparent(parsed),
    ...(tracestate && tracestate.length <= MAX_TRACESTATE_LENGTH ? { tracestate } : {}),
  };
}
