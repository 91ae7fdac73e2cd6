import { isUtf8 } from 'node:buffer';
import { z } from 'zod';

// CONTRACT.md "Tracking event": what SDKs put on the tracking topic (no envelope, no signature).
//   { environment, event, identifier, feature?, value?, timestamp }
// An exposure carries the feature's name in `feature` and the variant key as a string `value`; a metric
// event may carry a numeric `value` (sum and mean metrics). Anything else is rejected to the tracking DLQ.

/** CONTRACT.md "Limits and hostile input": the largest absolute numeric `value` accepted. */
export const TRACKING_VALUE_MAX = 1e12;

// Postgres text cannot hold NUL: such a message would fail its whole batch, so it is rejected here. An unpaired
// surrogate (a JSON escape like "\ud800") would be stored as U+FFFD, silently merging distinct identifiers.
const text = (min: number, max: number) =>
  z
    .string()
    .min(min)
    .max(max)
    .refine((s) => !s.includes('\u0000'), 'must not contain NUL characters')
    .refine((s) => !/[\uD800-\uDFFF]/u.test(s), 'must not contain unpaired surrogates');
const name = text(1, 255);

// Finite and bounded, so that no sum of the results query can overflow (results-query.ts).
const numberError = 'must be a finite number with absolute value at most 1e12';
const numericValue = z.number().refine((n) => Math.abs(n) <= TRACKING_VALUE_MAX, numberError);

export const trackingEventSchema = z.object({
  environment: name,
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

/** Every label a rejection is counted under in /metrics: a fixed list, whatever the senders send. */
export const TRACKING_REJECTION_LABELS = ['not_utf8', 'not_json', 'invalid', 'unknown_environment', 'out_of_retention', 'in_the_future'] as const;

/** The reason a rejected message carries in its `x-dlq-reason` header, with a short label for metrics. */
export interface TrackingRejection {
  label: (typeof TRACKING_REJECTION_LABELS)[number];
  reason: string;
}

/**
 * Parses one message value; a TrackingRejection when it is not a tracking event. Never throws: whatever the
 * bytes, the answer is an event or a rejection (test/unit/results/tracking-properties.test.ts).
 */
export function parseTrackingMessage(value: Buffer | null): TrackingEvent | TrackingRejection {
  if (value === null) return { label: 'not_json', reason: 'not JSON' };
  // toString would replace invalid sequences with U+FFFD and store altered text.
  if (!isUtf8(value)) return { label: 'not_utf8', reason: 'not UTF-8' };
  // A raw NUL byte is never valid JSON; said so, as it is a common way to probe for truncation bugs.
  if (value.includes(0)) return { label: 'not_json', reason: 'not JSON: contains a NUL byte' };
  let json: unknown;
  try {
    json = JSON.parse(value.toString('utf8'));
  } catch {
    // SyntaxError, or a RangeError of a parser that recurses (V8's does not, even at 10M levels).
    return { label: 'not_json', reason: 'not JSON' };
  }
  const parsed = trackingEventSchema.safeParse(json);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const field = issue.path.length ? issue.path.join('.') : 'message';
  return { label: 'invalid', reason: `invalid tracking event: ${field}: ${issue.message}` };
}

export const isRejection = (x: TrackingEvent | TrackingRejection): x is TrackingRejection => 'label' in x && 'reason' in x;
