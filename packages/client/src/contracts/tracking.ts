import { z } from 'zod';

// What SDKs put on the tracking topic (no envelope, no signature):
//   { environment, event, identifier, feature?, value?, timestamp }
// An exposure carries the feature's name in `feature` and the variant key as a string `value`; a metric
// event may carry a numeric `value` (sum and mean metrics). Anything else is rejected to the tracking DLQ.

/** The largest absolute numeric `value` accepted. */
export const TRACKING_VALUE_MAX = 1e12;

// Postgres text cannot hold NUL: such a message would fail its whole batch, so it is rejected. An unpaired
// surrogate (a JSON escape like "\ud800") would be stored as U+FFFD, silently merging distinct identifiers.
const text = (min: number, max: number) =>
  z
    .string()
    .min(min)
    .max(max)
    .refine((s) => !s.includes('\u0000'), 'must not contain NUL characters')
    .refine((s) => !/[\uD800-\uDFFF]/u.test(s), 'must not contain unpaired surrogates');
const name = text(1, 255);

// Finite and bounded, so that no sum of the results can overflow.
const numberError = 'must be a finite number with absolute value at most 1e12';
const numericValue = z.number().refine((n) => Math.abs(n) <= TRACKING_VALUE_MAX, numberError).meta({ maximum: TRACKING_VALUE_MAX, minimum: -TRACKING_VALUE_MAX });

export const trackingEventSchema = z.object({
  environment: name,
  /** An exposure is an event named as the experiment's `exposureEvent` (default `$flag_exposure`). */
  event: name,
  identifier: text(1, 1000),
  feature: text(1, 2000).nullish(),
  // JSON cannot say Infinity or NaN, but 1e400 parses to Infinity, which z.number() reports as a wrong type.
  value: z
    .union([text(0, 1000), numericValue], {
      error: (issue) => (typeof issue.input === 'number' ? numberError : 'must be a text of at most 1000 characters or a number'),
    })
    .nullish(),
  timestamp: z.iso.datetime({ offset: true }),
});
export type TrackingEvent = z.infer<typeof trackingEventSchema>;
