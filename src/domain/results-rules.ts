import type { ExperimentStatus } from './experiment-status.js';
import { cappedExponentialBackoff } from './retry.js';

// DOMAIN.md "Results": the rules around computing results, as pure functions (no I/O, time passed in).

export const RESULTS_MESSAGES = {
  notStarted: 'Cannot refresh results before the experiment starts.',
  final: 'Results are final for this completed experiment.',
} as const;

/** Django REST framework's throttling message (Flagsmith's API answers 429 with it). */
export function throttledMessage(retryAfter: number): string {
  return `Request was throttled. Expected available in ${retryAfter} ${retryAfter === 1 ? 'second' : 'seconds'}.`;
}

export interface RefreshState {
  startedAt: Date | null;
  endedAt: Date | null;
  /** The stored results row, if any. */
  results: { asOf: Date | null; refreshRequestedAt: Date | null } | null;
}

export type RefreshDecision =
  | { kind: 'not_started' }
  | { kind: 'final' }
  | { kind: 'throttled'; retryAfter: number }
  | { kind: 'accepted' };

/**
 * experiment.results.refresh, checks in DOMAIN.md's order: not started (no first start) → 400; results computed at
 * or after endedAt → 400 final; last request less than `minIntervalS` ago → 429 with the seconds left (rounded
 * up, at least 1); else accepted.
 */
export function refreshDecision(state: RefreshState, now: Date, minIntervalS: number): RefreshDecision {
  if (state.startedAt === null) return { kind: 'not_started' };
  if (resultsAreFinal(state.endedAt, state.results?.asOf ?? null)) return { kind: 'final' };
  const last = state.results?.refreshRequestedAt ?? null;
  if (last !== null && minIntervalS > 0) {
    const leftMs = last.getTime() + minIntervalS * 1000 - now.getTime();
    if (leftMs > 0) return { kind: 'throttled', retryAfter: Math.max(1, Math.ceil(leftMs / 1000)) };
  }
  return { kind: 'accepted' };
}

/** Results are final once computed at or after the experiment's end. */
export function resultsAreFinal(endedAt: Date | null, asOf: Date | null): boolean {
  return endedAt !== null && asOf !== null && asOf.getTime() >= endedAt.getTime();
}

/** is_final of a computation made at `asOf`: the experiment is completed and the window reaches its end. */
export function computedIsFinal(status: ExperimentStatus, endedAt: Date | null, asOf: Date): boolean {
  return status === 'completed' && resultsAreFinal(endedAt, asOf);
}

/**
 * The results window: from the first start to the end, or to `now` while not completed (paused time included).
 * Null before the first start.
 */
export function resultsWindow(startedAt: Date | null, endedAt: Date | null, now: Date): { from: Date; to: Date } | null {
  if (startedAt === null) return null;
  const to = endedAt ?? now;
  return { from: startedAt, to: to.getTime() < startedAt.getTime() ? startedAt : to };
}

/** Attempts of one compute job (the first run included) before its failure is recorded. */
export const COMPUTE_ATTEMPTS = 5;

/** Delay before attempt `attempt + 1` of a compute job: doubling from `baseMs`, capped at a minute. */
export function computeRetryDelayMs(attempt: number, baseMs = 2000): number {
  return cappedExponentialBackoff(attempt, baseMs, 60_000);
}

/** Whether the schedule should queue a compute: never computed, or computed longer than `intervalS` / 2 ago. */
export function scheduleDue(asOf: Date | null, now: Date, intervalS: number): boolean {
  return asOf === null || now.getTime() - asOf.getTime() >= (intervalS * 1000) / 2;
}
