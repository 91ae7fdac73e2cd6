import { describe, expect, it } from 'vitest';
import { eventSchema } from '../../../src/contracts/envelope.js';
import { domainEvent, outboxRow } from '../../../src/models/outbox.js';

// The one builder of events and outbox rows (CONTRACT.md "Event").

describe('domainEvent / outboxRow', () => {
  const fields = { type: 'experiment.results.computed', environment: 'env-1', occurredAt: '2026-11-23T10:00:00.000Z', commandId: null, actor: null, data: { experimentId: 7 } };

  it('builds a contract event with a fresh id each time', () => {
    const a = domainEvent(fields);
    const b = domainEvent(fields);
    expect(eventSchema.parse(a)).toEqual(a);
    expect(a).toMatchObject(fields);
    expect(a.id).not.toBe(b.id);
  });

  it('keys the row by the event environment unless told otherwise, with the event type header', () => {
    const event = domainEvent(fields);
    expect(outboxRow('t.events', event)).toEqual({ topic: 't.events', message_key: 'env-1', payload: event, headers: { 'event-type': 'experiment.results.computed' } });
    const platform = domainEvent({ ...fields, type: 'environment.upserted', environment: null });
    expect(outboxRow('t.events', platform, '42').message_key).toBe('42');
    expect(outboxRow('t.events', platform).message_key).toBeNull();
  });

  it('carries the trace of the command that emitted the event in its headers, which the relay sends', () => {
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    expect(outboxRow('t.events', domainEvent(fields), 'env-1', traceparent).headers).toEqual({ 'event-type': 'experiment.results.computed', traceparent });
  });
});
