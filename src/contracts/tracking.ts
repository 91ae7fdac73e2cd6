import { isUtf8 } from 'node:buffer';
import { trackingEventSchema, type TrackingEvent } from '@experimentation-worker/client/contracts';

// Reading a tracking message: the event's schema is in the client package (packages/client/src/contracts/
// tracking.ts); what is rejected, and why, is the worker's.

export { TRACKING_VALUE_MAX, trackingEventSchema, type TrackingEvent } from '@experimentation-worker/client/contracts';

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
