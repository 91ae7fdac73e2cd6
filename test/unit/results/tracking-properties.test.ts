import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TRACKING_REJECTION_LABELS, TRACKING_VALUE_MAX, isRejection, parseTrackingMessage, trackingEventSchema, type TrackingEvent } from '../../../src/contracts/tracking.js';

// Properties of the tracking parser over hostile input: whatever the bytes, it answers (never throws) with exactly
// one outcome, and what it accepts is what the store and the results query can take.

/** Exactly one outcome: a rejection with a known label and a reason, or an event the schema accepts as it is. */
function checkOutcome(bytes: Buffer): TrackingEvent | null {
  const result = parseTrackingMessage(bytes);
  if (isRejection(result)) {
    expect(TRACKING_REJECTION_LABELS).toContain(result.label);
    expect(typeof result.reason).toBe('string');
    expect(result.reason.length).toBeGreaterThan(0);
    expect(Object.keys(result).sort()).toEqual(['label', 'reason']);
    return null;
  }
  expect(trackingEventSchema.parse(result)).toEqual(result);
  expect(result).not.toHaveProperty('label');
  if (typeof result.value === 'number') {
    expect(Number.isFinite(result.value)).toBe(true);
    expect(Math.abs(result.value)).toBeLessThanOrEqual(TRACKING_VALUE_MAX);
  }
  for (const text of [result.environment, result.event, result.identifier, result.feature, typeof result.value === 'string' ? result.value : null]) {
    if (typeof text === 'string') expect(text).not.toContain('\u0000');
  }
  return result;
}

/** A JSON number literal for `d`, as a hostile sender writes it: 1e400 for Infinity (JSON has no Infinity). */
const numberLiteral = (d: number) => (Number.isNaN(d) ? 'NaN' : d === Infinity ? '1e400' : d === -Infinity ? '-1e400' : JSON.stringify(d));

const hostileString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: fc.constantFrom('a', '\u0000', '\ud800', '\udc00', '\ud83d\ude00', '"', '\\'), maxLength: 10 }),
  fc.constantFrom('', 'x'.repeat(256), 'y'.repeat(1001), 'env-1', '$flag_exposure'),
);
const hostileNumber = fc.oneof(
  fc.double(),
  fc.constantFrom(TRACKING_VALUE_MAX, -TRACKING_VALUE_MAX, TRACKING_VALUE_MAX + 1, 1e200, -1e200, 5e-324, -0, Number.MAX_VALUE),
);
/** JSON text of a value: a hostile string or number, a literal, or nesting (deep nesting is its own test). */
const jsonValue: fc.Arbitrary<string> = fc.letrec<{ value: string }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    hostileString.map((s) => JSON.stringify(s)),
    hostileNumber.map(numberLiteral),
    fc.constantFrom('null', 'true', '{}', '[]'),
    fc.array(tie('value'), { maxLength: 3 }).map((items) => `[${items.join(',')}]`),
  ),
})).value;
const validText = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }).map((t) => JSON.stringify(t));
const validTimestamp = fc.date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }).map((d) => JSON.stringify(d.toISOString()));
/** Mostly a valid field, so that many events are accepted and the properties of accepted ones are exercised. */
const mostlyValid = (valid: fc.Arbitrary<string>) => fc.oneof({ arbitrary: valid, weight: 5 }, { arbitrary: jsonValue, weight: 1 });
/** Tracking-event-shaped JSON: required fields mostly valid or missing now and then, the others anything. */
const eventJson = fc
  .record(
    {
      environment: mostlyValid(validText),
      event: mostlyValid(validText),
      identifier: mostlyValid(validText),
      feature: mostlyValid(validText),
      value: fc.oneof(hostileNumber.map(numberLiteral), validText, jsonValue),
      timestamp: mostlyValid(validTimestamp),
      extra: jsonValue,
    },
    { requiredKeys: ['environment', 'event', 'identifier', 'timestamp'] },
  )
  .map((fields) => `{${Object.entries(fields).map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`);
/** Such JSON with a few bytes overwritten, cut short or extended. */
const mutatedEventBytes = fc
  .tuple(eventJson, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }), fc.option(fc.nat()))
  .map(([json, writes, cut]) => {
    const bytes = Buffer.from(json, 'utf8');
    for (const [at, byte] of writes) if (bytes.length) bytes[at % bytes.length] = byte;
    return cut === null ? bytes : bytes.subarray(0, cut % (bytes.length + 1));
  });

describe('parseTrackingMessage, property-based', () => {
  it('answers arbitrary bytes with exactly one outcome and never throws', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => void checkOutcome(Buffer.from(bytes))), { numRuns: 2000 });
  });

  it('answers hostile tracking-shaped JSON, intact or mutated, with exactly one outcome; accepted ones within bounds', () => {
    let accepted = 0;
    fc.assert(
      fc.property(fc.oneof(eventJson.map((j) => Buffer.from(j, 'utf8')), mutatedEventBytes), (bytes) => {
        if (checkOutcome(bytes)) accepted++;
      }),
      { numRuns: 3000 },
    );
    // Not vacuous: a good share of the runs are accepted events (about a sixth).
    expect(accepted).toBeGreaterThan(300);
  });

  it('accepts a numeric value exactly when it is finite with absolute value at most 1e12', () => {
    fc.assert(
      fc.property(hostileNumber, (d) => {
        const json = `{"environment":"e","event":"purchase","identifier":"u","value":${numberLiteral(d)},"timestamp":"2026-11-23T10:00:00Z"}`;
        const event = checkOutcome(Buffer.from(json));
        const parsed = numberLiteral(d) === 'NaN' ? NaN : JSON.parse(numberLiteral(d));
        const inRange = Number.isFinite(parsed) && Math.abs(parsed) <= TRACKING_VALUE_MAX;
        expect(event !== null).toBe(inRange);
        if (event) expect(event.value).toBe(parsed);
        else if (!Number.isNaN(parsed)) {
          expect(parseTrackingMessage(Buffer.from(json))).toEqual({ label: 'invalid', reason: 'invalid tracking event: value: must be a finite number with absolute value at most 1e12' });
        }
      }),
      { numRuns: 2000 },
    );
  });
});
