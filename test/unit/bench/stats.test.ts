import { describe, expect, it } from 'vitest';
import { percentile, summarizeLatencies } from '../../../bench/pipeline/stats.js';

describe('percentile (nearest rank)', () => {
  const hundred = Array.from({ length: 100 }, (_, i) => i + 1);

  it('is the value at rank ceil(p/100 · n)', () => {
    expect(percentile(hundred, 50)).toBe(50);
    expect(percentile(hundred, 95)).toBe(95);
    expect(percentile(hundred, 99)).toBe(99);
    expect(percentile(hundred, 100)).toBe(100);
    expect(percentile([10, 20, 30], 50)).toBe(20);
    expect(percentile([10, 20, 30], 99)).toBe(30);
    expect(percentile([10, 20, 30, 40], 50)).toBe(20);
  });

  it('takes the smallest for p 0 and the only sample whatever p', () => {
    expect(percentile(hundred, 0)).toBe(1);
    expect(percentile([7], 1)).toBe(7);
    expect(percentile([7], 99)).toBe(7);
  });

  it('is NaN without samples', () => {
    expect(percentile([], 50)).toBeNaN();
  });
});

describe('summarizeLatencies', () => {
  it('sorts its input and reports mean and max', () => {
    const s = summarizeLatencies([30, 10, 20]);
    expect(s).toMatchObject({ samples: 3, unanswered: 0, p50Ms: 20, p99Ms: 30, maxMs: 30, meanMs: 20 });
  });

  it('counts unanswered commands as slower than every answered one', () => {
    const answered = Array.from({ length: 98 }, (_, i) => i + 1);
    const s = summarizeLatencies(answered, 2);
    expect(s.samples).toBe(100);
    expect(s.p95Ms).toBe(95);
    expect(s.p99Ms).toBe(Infinity);
    expect(s.maxMs).toBe(Infinity);
    expect(s.meanMs).toBeCloseTo(49.5);
  });
});
