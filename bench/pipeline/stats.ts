// Latency statistics of the bench (pure).

/** Nearest-rank percentile of ascending `sorted` (p in 0..100); NaN for no samples. */
export function percentile(sorted: readonly number[], p: number): number {
  if (!sorted.length) return NaN;
  if (p <= 0) return sorted[0]!;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, rank) - 1]!;
}

export interface LatencySummary {
  samples: number;
  /** Commands with no reply by the end of the drain: counted as slower than every answered one. */
  unanswered: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
}

/**
 * Percentiles over answered and unanswered commands together: an unanswered one counts as +Infinity, so a
 * percentile that falls among them is reported as Infinity ("more than the drain"), never as a flattering number.
 */
export function summarizeLatencies(latenciesMs: readonly number[], unanswered = 0): LatencySummary {
  const sorted = [...latenciesMs].sort((a, b) => a - b);
  const all = unanswered ? [...sorted, ...Array<number>(unanswered).fill(Infinity)] : sorted;
  const sum = sorted.reduce((a, b) => a + b, 0);
  return {
    samples: all.length,
    unanswered,
    p50Ms: percentile(all, 50),
    p95Ms: percentile(all, 95),
    p99Ms: percentile(all, 99),
    maxMs: all.length ? all[all.length - 1]! : NaN,
    meanMs: sorted.length ? sum / sorted.length : NaN,
  };
}
