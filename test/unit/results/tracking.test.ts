import { describe, expect, it } from 'vitest';
import { isRejection, parseTrackingMessage } from '../../../src/contracts/tracking.js';
import { dayStart, numberArray, oldestAccepted, partitionDay, partitionName, textArray } from '../../../src/results/tracking-store.js';

const msg = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value));

describe('parseTrackingMessage', () => {
  it('reads an exposure and a metric event of the contract', () => {
    const exposure = parseTrackingMessage(
      msg({ environment: 'env-1', event: '$flag_exposure', identifier: 'user-1', feature: 'checkout_button', value: 'variant_a', timestamp: '2026-11-23T10:00:00.000Z' }),
    );
    expect(isRejection(exposure)).toBe(false);
    expect(exposure).toMatchObject({ feature: 'checkout_button', value: 'variant_a' });
    const purchase = parseTrackingMessage(msg({ environment: 'env-1', event: 'purchase', identifier: 'user-1', value: 12.5, timestamp: '2026-11-23T10:00:00+01:00' }));
    expect(purchase).toMatchObject({ event: 'purchase', value: 12.5 });
  });

  it('accepts events without value or feature, and null for them', () => {
    expect(isRejection(parseTrackingMessage(msg({ environment: 'e', event: 'click', identifier: 'u', timestamp: '2026-11-23T10:00:00Z' })))).toBe(false);
    expect(isRejection(parseTrackingMessage(msg({ environment: 'e', event: 'click', identifier: 'u', feature: null, value: null, timestamp: '2026-11-23T10:00:00Z' })))).toBe(false);
  });

  it('rejects what is not JSON', () => {
    expect(parseTrackingMessage(msg('{not json'))).toEqual({ label: 'not_json', reason: 'not JSON' });
    expect(parseTrackingMessage(null)).toEqual({ label: 'not_json', reason: 'not JSON' });
  });

  it('names the first invalid field', () => {
    const missing = parseTrackingMessage(msg({ environment: 'e', event: 'click', timestamp: '2026-11-23T10:00:00Z' }));
    expect(missing).toMatchObject({ label: 'invalid' });
    expect((missing as { reason: string }).reason).toMatch(/^invalid tracking event: identifier: /);
    const badTime = parseTrackingMessage(msg({ environment: 'e', event: 'click', identifier: 'u', timestamp: 'yesterday' }));
    expect((badTime as { reason: string }).reason).toMatch(/^invalid tracking event: timestamp: /);
    const boolValue = parseTrackingMessage(msg({ environment: 'e', event: 'click', identifier: 'u', value: true, timestamp: '2026-11-23T10:00:00Z' }));
    expect((boolValue as { reason: string }).reason).toMatch(/^invalid tracking event: value: /);
    const notObject = parseTrackingMessage(msg([1, 2]));
    expect((notObject as { reason: string }).reason).toMatch(/^invalid tracking event: message: /);
  });

  it('rejects NUL characters, which Postgres text cannot hold', () => {
    const nul = parseTrackingMessage(msg({ environment: 'e', event: 'click', identifier: 'u\u0000v', timestamp: '2026-11-23T10:00:00Z' }));
    expect((nul as { reason: string }).reason).toBe('invalid tracking event: identifier: must not contain NUL characters');
  });
});

describe('tracking store helpers', () => {
  it('names daily partitions by UTC day and reads them back', () => {
    const day = dayStart(new Date('2026-11-23T23:59:59.999Z'));
    expect(new Date(day).toISOString()).toBe('2026-11-23T00:00:00.000Z');
    expect(partitionName(day)).toBe('tracking_events_p20261123');
    expect(partitionDay('tracking_events_p20261123')).toBe(day);
    expect(partitionDay('tracking_events')).toBeNull();
    expect(partitionDay('other_p20261123')).toBeNull();
  });

  it('accepts events from the first day that retention keeps', () => {
    const now = new Date('2026-11-23T12:00:00Z');
    expect(new Date(oldestAccepted(180, now)).toISOString()).toBe('2026-05-28T00:00:00.000Z');
  });

  it('writes Postgres array literals, quoting and escaping every text', () => {
    expect(textArray(['a', null, 'b"c', 'd\\e', '', 'NULL', '{x,y}'])).toBe('{"a",NULL,"b\\"c","d\\\\e","","NULL","{x,y}"}');
    expect(numberArray([1, null, -2.5, 1e-7])).toBe('{1,NULL,-2.5,1e-7}');
    expect(() => numberArray([Number.NaN])).toThrow();
    expect(textArray([])).toBe('{}');
  });
});
