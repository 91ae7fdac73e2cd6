import { describe, expect, it } from 'vitest';
import { formatTraceparent, parseTraceparent, readTraceContext } from '../../../src/contracts/trace-context.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';

describe('W3C trace context', () => {
  it('parses and formats a traceparent', () => {
    expect(parseTraceparent(`00-${TRACE}-${SPAN}-01`)).toEqual({ traceId: TRACE, spanId: SPAN, traceFlags: 1 });
    expect(formatTraceparent({ traceId: TRACE, spanId: SPAN, traceFlags: 0 })).toBe(`00-${TRACE}-${SPAN}-00`);
    // A later version may append fields; version 00 may not.
    expect(parseTraceparent(`01-${TRACE}-${SPAN}-01-extra`)).toEqual({ traceId: TRACE, spanId: SPAN, traceFlags: 1 });
    expect(parseTraceparent(`00-${TRACE}-${SPAN}-01-extra`)).toBeUndefined();
  });

  it('refuses what is not a traceparent', () => {
    for (const value of [undefined, '', 'garbage', `ff-${TRACE}-${SPAN}-01`, `00-${'0'.repeat(32)}-${SPAN}-01`, `00-${TRACE}-${'0'.repeat(16)}-01`, `00-${TRACE.toUpperCase()}-${SPAN}-01`, `00-${TRACE}-${SPAN}-1`]) {
      expect(parseTraceparent(value)).toBeUndefined();
    }
  });

  it('reads the headers of a message: traceparent normalised, tracestate when it is of a sane length', () => {
    expect(readTraceContext({})).toBeUndefined();
    expect(readTraceContext({ traceparent: 'nope', tracestate: 'a=1' })).toBeUndefined();
    expect(readTraceContext({ traceparent: `01-${TRACE}-${SPAN}-01-x`, tracestate: 'a=1' })).toEqual({ traceparent: `00-${TRACE}-${SPAN}-01`, tracestate: 'a=1' });
    expect(readTraceContext({ traceparent: `00-${TRACE}-${SPAN}-01`, tracestate: 'a'.repeat(600) })).toEqual({ traceparent: `00-${TRACE}-${SPAN}-01` });
  });
});
