import { describe, expect, it } from 'vitest';
import {
  COMPUTE_ATTEMPTS,
  RESULTS_MESSAGES,
  computeRetryDelayMs,
  computedIsFinal,
  refreshDecision,
  resultsAreFinal,
  resultsWindow,
  scheduleDue,
  throttledMessage,
} from '../../../src/domain/results-rules.js';
import { isTransientError } from '../../../src/domain/retry.js';

const t = (iso: string) => new Date(iso);
const started = t('2026-11-01T00:00:00Z');
const ended = t('2026-11-10T00:00:00Z');
const now = t('2026-11-20T12:00:00Z');

describe('refreshDecision', () => {
  it('refuses before the first start, whatever else', () => {
    expect(refreshDecision({ startedAt: null, endedAt: null, results: null }, now, 300)).toEqual({ kind: 'not_started' });
    expect(refreshDecision({ startedAt: null, endedAt: null, results: { asOf: null, refreshRequestedAt: now } }, now, 300)).toEqual({ kind: 'not_started' });
  });

  it('accepts a first refresh', () => {
    expect(refreshDecision({ startedAt: started, endedAt: null, results: null }, now, 300)).toEqual({ kind: 'accepted' });
  });

  it('answers final once results were computed at or after endedAt (before throttling)', () => {
    const recently = new Date(now.getTime() - 1000);
    expect(refreshDecision({ startedAt: started, endedAt: ended, results: { asOf: ended, refreshRequestedAt: recently } }, now, 300)).toEqual({ kind: 'final' });
    expect(refreshDecision({ startedAt: started, endedAt: ended, results: { asOf: now, refreshRequestedAt: null } }, now, 300)).toEqual({ kind: 'final' });
  });

  it('lets a completed experiment refresh while its results predate the end', () => {
    const before = new Date(ended.getTime() - 1);
    expect(refreshDecision({ startedAt: started, endedAt: ended, results: { asOf: before, refreshRequestedAt: null } }, now, 300)).toEqual({ kind: 'accepted' });
    expect(refreshDecision({ startedAt: started, endedAt: ended, results: { asOf: null, refreshRequestedAt: null } }, now, 300)).toEqual({ kind: 'accepted' });
  });

  it('throttles within the minimum interval, with the seconds left rounded up', () => {
    const last = new Date(now.getTime() - 100_500);
    expect(refreshDecision({ startedAt: started, endedAt: null, results: { asOf: null, refreshRequestedAt: last } }, now, 300)).toEqual({ kind: 'throttled', retryAfter: 200 });
    const justNow = new Date(now.getTime() - 299_999);
    expect(refreshDecision({ startedAt: started, endedAt: null, results: { asOf: null, refreshRequestedAt: justNow } }, now, 300)).toEqual({ kind: 'throttled', retryAfter: 1 });
  });

  it('accepts again once the interval has passed, and never throttles with a zero interval', () => {
    const last = new Date(now.getTime() - 300_000);
    expect(refreshDecision({ startedAt: started, endedAt: null, results: { asOf: null, refreshRequestedAt: last } }, now, 300)).toEqual({ kind: 'accepted' });
    expect(refreshDecision({ startedAt: started, endedAt: null, results: { asOf: null, refreshRequestedAt: now } }, now, 0)).toEqual({ kind: 'accepted' });
  });

  it('words the 429 like Django REST framework', () => {
    expect(throttledMessage(1)).toBe('Request was throttled. Expected available in 1 second.');
    expect(throttledMessage(42)).toBe('Request was throttled. Expected available in 42 seconds.');
    expect(RESULTS_MESSAGES.notStarted).toBe('Cannot refresh results before the experiment starts.');
    expect(RESULTS_MESSAGES.final).toBe('Results are final for this completed experiment.');
  });
});

describe('final results', () => {
  it('are final only at or after the end', () => {
    expect(resultsAreFinal(null, now)).toBe(false);
    expect(resultsAreFinal(ended, null)).toBe(false);
    expect(resultsAreFinal(ended, new Date(ended.getTime() - 1))).toBe(false);
    expect(resultsAreFinal(ended, ended)).toBe(true);
  });

  it('need a completed experiment when computed', () => {
    expect(computedIsFinal('completed', ended, now)).toBe(true);
    expect(computedIsFinal('running', null, now)).toBe(false);
    expect(computedIsFinal('paused', null, now)).toBe(false);
  });
});

describe('resultsWindow', () => {
  it('runs from the first start to the end, or to now', () => {
    expect(resultsWindow(null, null, now)).toBeNull();
    expect(resultsWindow(started, null, now)).toEqual({ from: started, to: now });
    expect(resultsWindow(started, ended, now)).toEqual({ from: started, to: ended });
  });

  it('never ends before it starts (clock skew)', () => {
    expect(resultsWindow(now, null, started)).toEqual({ from: now, to: now });
  });
});

describe('compute retries', () => {
  it('retries connection, serialization, resource and lock errors, not data errors or bugs', () => {
    expect(isTransientError({ code: '40001' })).toBe(true);
    expect(isTransientError({ code: '40P01' })).toBe(true);
    expect(isTransientError({ code: '57014' })).toBe(true); // statement timeout / cancel
    expect(isTransientError({ code: '53300' })).toBe(true);
    expect(isTransientError({ code: '08006' })).toBe(true);
    expect(isTransientError({ code: '55P03' })).toBe(true);
    expect(isTransientError({ code: 'ECONNREFUSED' })).toBe(true);
    expect(isTransientError({ name: 'KnexTimeoutError' })).toBe(true);
    expect(isTransientError(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isTransientError({ code: '22003', message: 'value out of range: overflow' })).toBe(false);
    expect(isTransientError(new RangeError('metrics[0].variants.control.sum must be a finite number'))).toBe(false);
    expect(isTransientError(new TypeError('x is undefined'))).toBe(false);
    expect(isTransientError(undefined)).toBe(false);
  });

  it('backs off exponentially, capped at a minute, over a handful of attempts', () => {
    expect(COMPUTE_ATTEMPTS).toBe(5);
    expect([1, 2, 3, 4, 5].map((a) => computeRetryDelayMs(a))).toEqual([2000, 4000, 8000, 16000, 32000]);
    expect(computeRetryDelayMs(10)).toBe(60_000);
    expect(computeRetryDelayMs(1, 100)).toBe(100);
  });
});

describe('scheduleDue', () => {
  it('queues experiments never computed or computed more than half an interval ago', () => {
    expect(scheduleDue(null, now, 3600)).toBe(true);
    expect(scheduleDue(new Date(now.getTime() - 1800_000), now, 3600)).toBe(true);
    expect(scheduleDue(new Date(now.getTime() - 1799_000), now, 3600)).toBe(false);
  });
});
