import { describe, expect, it } from 'vitest';
import { droppableDays, neededTracking } from '../../../src/domain/tracking-retention.js';
import { dayStart, retentionCutoff } from '../../../src/results/tracking-store.js';

// DOMAIN.md "Results", retention: which day partitions may go, given the cutoff and what experiments still need.

const t = (iso: string) => new Date(iso);
const day = (iso: string) => dayStart(t(iso));
const now = t('2026-11-23T12:00:00Z');
const cutoff = retentionCutoff(180, now); // 2026-05-27T00:00Z: days ending at or before it are past retention
const days = ['2026-05-01', '2026-05-10', '2026-05-20', '2026-05-26', '2026-05-27', '2026-06-01'].map((d) => day(`${d}T00:00:00Z`));
const iso = (list: number[]) => list.map((d) => new Date(d).toISOString().slice(0, 10));

describe('retentionCutoff', () => {
  it('is the start of the day `retention` days ago: the days before it are past retention', () => {
    expect(new Date(cutoff).toISOString()).toBe('2026-05-27T00:00:00.000Z');
  });
});

describe('neededTracking', () => {
  it('reaches back the CUPED lookback (and an hour of calendar-day slack) before the start, to the end', () => {
    const needed = neededTracking(t('2026-05-20T10:00:00Z'), t('2026-06-10T00:00:00Z'), 14);
    expect(needed.from.toISOString()).toBe('2026-05-06T09:00:00.000Z');
    expect(needed.to?.toISOString()).toBe('2026-06-10T00:00:00.000Z');
  });

  it('stays open while the experiment is not completed', () => {
    expect(neededTracking(t('2026-05-20T10:00:00Z'), null, 0).to).toBeNull();
  });
});

describe('droppableDays', () => {
  it('drops every day wholly past retention when nothing is needed', () => {
    expect(iso(droppableDays(days, cutoff, []))).toEqual(['2026-05-01', '2026-05-10', '2026-05-20', '2026-05-26']);
  });

  it('keeps the days an open window reaches into, from its first needed day on', () => {
    const running = neededTracking(t('2026-05-20T10:00:00Z'), null, 14); // needs 2026-05-06T09:00 onwards
    expect(iso(droppableDays(days, cutoff, [running]))).toEqual(['2026-05-01']);
  });

  it('keeps only the days a closed window overlaps, its last day included', () => {
    const completed = neededTracking(t('2026-05-12T00:00:00Z'), t('2026-05-20T00:00:00Z'), 0);
    expect(iso(droppableDays(days, cutoff, [completed]))).toEqual(['2026-05-01', '2026-05-10', '2026-05-26']);
  });

  it('keeps a day a window starts in, even in its last hour', () => {
    const lateStart = { from: t('2026-05-10T23:59:59.999Z'), to: t('2026-05-11T01:00:00Z') };
    expect(iso(droppableDays(days, cutoff, [lateStart]))).toEqual(['2026-05-01', '2026-05-20', '2026-05-26']);
  });

  it('drops a day that ends exactly where a window starts', () => {
    const fromMidnight = { from: t('2026-05-11T00:00:00Z'), to: t('2026-05-11T01:00:00Z') };
    expect(iso(droppableDays(days, cutoff, [fromMidnight]))).toContain('2026-05-10');
  });

  it('never drops a day within retention, needed or not', () => {
    expect(droppableDays([day('2026-05-27T00:00:00Z'), day('2026-11-23T00:00:00Z')], cutoff, [])).toEqual([]);
  });

  it('keeps the lookback of an experiment starting now, when retention is shorter than the lookback', () => {
    const shortCutoff = retentionCutoff(3, now); // 2026-11-20
    const recent = [day('2026-11-01T00:00:00Z'), day('2026-11-10T00:00:00Z'), day('2026-11-19T00:00:00Z')];
    expect(iso(droppableDays(recent, shortCutoff, [neededTracking(now, null, 14)]))).toEqual(['2026-11-01']);
  });

  it('answers each day once, in ascending order', () => {
    expect(droppableDays([days[1]!, days[0]!, days[1]!], cutoff, [])).toEqual([days[0], days[1]]);
  });
});
