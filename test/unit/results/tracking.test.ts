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

  it('bounds numeric values: finite, absolute value at most 1e12', () => {
    const withValue = (literal: string) =>
      parseTrackingMessage(Buffer.from(`{"environment":"e","event":"purchase","identifier":"u","value":${literal},"timestamp":"2026-11-23T10:00:00Z"}`));
    expect(withValue('1e12')).toMatchObject({ value: 1e12 });
    expect(withValue('-1e12')).toMatchObject({ value: -1e12 });
    const outOfRange = { label: 'invalid', reason: 'invalid tracking event: value: must be a finite number with absolute value at most 1e12' };
    // 1e400 is valid JSON that parses to Infinity.
    for (const literal of ['1000000000001', '-1000000000001', '1e200', '-1e200', '1e400', '-1e400']) expect(withValue(literal), literal).toEqual(outOfRange);
    // A numeric string is a text value (a variant key), never a number: it feeds no sum.
    expect(withValue('"1e400"')).toMatchObject({ value: '1e400' });
  });

  it('gives hostile bytes a clear reason: not UTF-8, raw NUL, unpaired surrogates, deep nesting, huge strings', () => {
    const event = { environment: 'e', event: 'click', identifier: 'u', timestamp: '2026-11-23T10:00:00Z' };
    const utf8 = Buffer.from(JSON.stringify(event));
    expect(parseTrackingMessage(Buffer.concat([utf8.subarray(0, 20), Buffer.from([0xc3, 0x28]), utf8.subarray(20)]))).toEqual({ label: 'not_utf8', reason: 'not UTF-8' });
    expect(parseTrackingMessage(Buffer.from([0xff, 0xfe, 0x7b, 0x7d]))).toEqual({ label: 'not_utf8', reason: 'not UTF-8' });
    expect(parseTrackingMessage(Buffer.concat([utf8, Buffer.from([0])]))).toEqual({ label: 'not_json', reason: 'not JSON: contains a NUL byte' });
    // JSON.stringify writes an unpaired surrogate as the escape \ud800, which JSON.parse turns back into one.
    expect(parseTrackingMessage(msg({ ...event, identifier: 'u\ud800' }))).toEqual({ label: 'invalid', reason: 'invalid tracking event: identifier: must not contain unpaired surrogates' });
    expect(parseTrackingMessage(msg({ ...event, identifier: 'u\ud83d\ude00' }))).toMatchObject({ identifier: 'u\ud83d\ude00' });
    const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
    expect(parseTrackingMessage(Buffer.from(deep(100_000)))).toMatchObject({ label: 'invalid', reason: expect.stringMatching(/^invalid tracking event: message: /) });
    expect(parseTrackingMessage(Buffer.from(`${JSON.stringify(event).slice(0, -1)},"value":${deep(100_000)}}`))).toEqual({
      label: 'invalid',
      reason: 'invalid tracking event: value: must be a text of at most 1000 characters or a number',
    });
    // Nesting in a field the schema does not know is dropped unread.
    expect(parseTrackingMessage(Buffer.from(`${JSON.stringify(event).slice(0, -1)},"junk":${deep(100_000)}}`))).toEqual(event);
    expect(parseTrackingMessage(Buffer.from('{"a":'.repeat(100_000) + '1' + '}'.repeat(100_000)))).toMatchObject({ label: 'invalid' });
    expect(parseTrackingMessage(msg({ ...event, identifier: 'x'.repeat(1_000_000) }))).toEqual({
      label: 'invalid',
      reason: 'invalid tracking event: identifier: Too big: expected string to have <=1000 characters',
    });
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
