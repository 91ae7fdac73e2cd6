import { describe, expect, it } from 'vitest';
import { definitionError, DEFINITION_MESSAGES } from '../../../src/domain/metric-definition.js';
import { metricCreateSchema } from '../../../src/contracts/metrics.js';
import { fieldErrors } from '../../../src/contracts/errors.js';

describe('definitionError', () => {
  it('accepts version 1 with an event, keeping other keys', () => {
    expect(definitionError({ version: 1, event: 'checkout' })).toBeNull();
    expect(definitionError({ version: 1, event: 'checkout', filters: { plan: 'pro' } })).toBeNull();
  });

  it.each([null, [], [{ version: 1, event: 'x' }], 'checkout', 1, true])('rejects %j as not an object', (definition) => {
    expect(definitionError(definition)).toBe('Definition must be an object.');
  });

  it.each([{}, { version: 2, event: 'x' }, { version: 0, event: 'x' }, { version: '1', event: 'x' }, { version: 1.5, event: 'x' }, { version: null, event: 'x' }, { version: true, event: 'x' }])(
    'rejects %j for its version',
    (definition) => {
      expect(definitionError(definition)).toBe("Definition must specify a supported 'version'.");
    },
  );

  it.each([{ version: 1 }, { version: 1, event: '' }, { version: 1, event: '   ' }, { version: 1, event: 42 }, { version: 1, event: null }, { version: 1, event: ['x'] }])(
    'rejects %j for its event',
    (definition) => {
      expect(definitionError(definition)).toBe("Definition must specify a non-empty 'event'.");
    },
  );

  it('checks the version before the event', () => {
    expect(definitionError({ version: 7 })).toBe(DEFINITION_MESSAGES.unsupportedVersion);
    expect(definitionError({ event: '' })).toBe(DEFINITION_MESSAGES.unsupportedVersion);
  });
});

describe('metricCreateSchema', () => {
  const errorsOf = (payload: unknown) => {
    const parsed = metricCreateSchema.safeParse(payload);
    return parsed.success ? null : fieldErrors(parsed.error);
  };

  it('fills the defaults', () => {
    expect(metricCreateSchema.parse({ name: 'Checkout', definition: { version: 1, event: 'checkout' } })).toEqual({
      name: 'Checkout',
      description: '',
      aggregation: 'mean',
      direction: 'up',
      definition: { version: 1, event: 'checkout' },
    });
  });

  it('answers every field error at once, with the contract wording', () => {
    expect(errorsOf({ aggregation: 'median', direction: 'sideways' })).toEqual({
      name: ['This field is required.'],
      aggregation: ['"median" is not a valid choice.'],
      direction: ['"sideways" is not a valid choice.'],
      definition: ['This field is required.'],
    });
    expect(errorsOf({ name: 'x'.repeat(256), definition: [] })).toEqual({
      name: ['Ensure this field has no more than 255 characters.'],
      definition: ['Definition must be an object.'],
    });
    expect(errorsOf({ name: 'x'.repeat(255), definition: { version: 1, event: 'e' } })).toBeNull();
  });

  it('puts a definition error under definition', () => {
    expect(errorsOf({ name: 'n', definition: { version: 1 } })).toEqual({ definition: ["Definition must specify a non-empty 'event'."] });
  });
});
