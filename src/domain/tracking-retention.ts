// DOMAIN.md "Results", retention: TRACKING_RETENTION_DAYS never drops tracking data an experiment still needs.
// Pure rules (no I/O, time passed in); tracking events are stored in one partition per UTC day.

export const DAY_MS = 86_400_000;

/**
 * A span of tracking data some experiment needs, `to` inclusive (the results query reads events at or before
 * the window's end); `to: null` while it is still open (the experiment is not completed).
 */
export interface NeededTracking {
  from: Date;
  to: Date | null;
}

/**
 * Slack before `from`: the results query subtracts the lookback as calendar days (`make_interval(days => …)`),
 * which in a session time zone with daylight saving can be 25 hours.
 */
const CALENDAR_DAY_SLACK_MS = 3600_000;

/**
 * What an experiment started at `startedAt` (and ended at `endedAt`, or not yet) reads: its window, from the first
 * start to the end, and the CUPED lookback before its earliest possible first exposure (the start).
 */
export function neededTracking(startedAt: Date, endedAt: Date | null, lookbackDays: number): NeededTracking {
  return { from: new Date(startedAt.getTime() - lookbackDays * DAY_MS - CALENDAR_DAY_SLACK_MS), to: endedAt };
}

/**
 * The day partitions (UTC day starts in ms, each holding [day, day + 1 day)) that retention may drop: wholly
 * before `cutoffMs` and overlapping none of `needed`. Answers them in ascending order.
 */
export function droppableDays(days: Iterable<number>, cutoffMs: number, needed: readonly NeededTracking[]): number[] {
  const overlaps = (day: number, span: NeededTracking) => span.from.getTime() < day + DAY_MS && (span.to === null || span.to.getTime() >= day);
  return [...new Set(days)].filter((day) => day + DAY_MS <= cutoffMs && !needed.some((span) => overlaps(day, span))).sort((a, b) => a - b);
}
