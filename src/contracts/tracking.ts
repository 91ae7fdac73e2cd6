import { z } from 'zod';

// CONTRACT.md "Tracking event": what SDKs put on the tracking topic (no envelope, no signature).
//   { environment, event, identifier, feature?, value?, timestamp }
// An exposure carries the feature's name in `feature` and the variant key as a string `value`; a metric
// event may carry a numeric `value` (sum and mean metrics). Anything else is rejected to the DLQ.

// Postgres text cannot hold NUL: such a message would fail its whole batch, so it is rejected here.
const text = (min: number, max: number) => z.string().min(min).max(max).refine((s) => !s.includes('\u0000'), 'must not contain NUL characters');
const name = text(1, 255);

export const trackingEventSchema = z.object({
  environment: name,
  event: name,
  identifier: text(1, 1000),
  feature: text(1, 2000).nullish(),
  value: z.union([text(0, 1000), z.number()]).nullish(),
  timestamp: z.iso.datetime({ offset: true }),
});
export type TrackingEvent = z.infer<typeof trackingEventSchema>;

/** The reason a rejected message carries in its `x-dlq-reason` header, with a short label for metrics. */
export interface TrackingRejection {
  label: 'not_json' | 'invalid' | 'unknown_environment' | 'out_of_retention' | 'in_the_future';
  reason: string;
}

/** Parses one message value; a TrackingRejection when it is not a tracking event. */
export function parseTrackingMessage(value: Buffer | null): TrackingEvent | TrackingRejection {
  let json: unknown;
  try {
    json = JSON.parse(value?.toString('utf8') ?? '');
  } catch {
    return { label: 'not_json', reason: 'not JSON' };
  }
  const parsed = trackingEventSchema.safeParse(json);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const field = issue.path.length ? issue.path.join('.') : 'message';
  return { label: 'invalid', reason: `invalid tracking event: ${field}: ${issue.message}` };
}

export const isRejection = (x: TrackingEvent | TrackingRejection): x is TrackingRejection => 'label' in x && 'reason' in x;
