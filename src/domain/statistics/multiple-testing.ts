import type { MultipleTestingCorrection } from './types.js';

/** Holm's step-down adjusted p-values: p̃(i) = max_{j ≤ i} min(1, (m − j + 1)·p(j)) over ascending p. */
export function holmAdjust(pValues: readonly number[]): number[] {
  const m = pValues.length;
  const order = ascendingOrder(pValues);
  const adjusted = new Array<number>(m);
  let running = 0;
  order.forEach((index, rank) => {
    running = Math.max(running, Math.min(1, (m - rank) * pValues[index]!));
    adjusted[index] = running;
  });
  return adjusted;
}

/** Benjamini–Hochberg adjusted p-values: p̃(i) = min_{j ≥ i} min(1, m/j·p(j)) over ascending p. */
export function benjaminiHochbergAdjust(pValues: readonly number[]): number[] {
  const m = pValues.length;
  const order = ascendingOrder(pValues);
  const adjusted = new Array<number>(m);
  let running = 1;
  for (let rank = m - 1; rank >= 0; rank--) {
    const index = order[rank]!;
    running = Math.min(running, Math.min(1, (m / (rank + 1)) * pValues[index]!));
    adjusted[index] = running;
  }
  return adjusted;
}

export function adjustPValues(pValues: readonly number[], correction: MultipleTestingCorrection): number[] {
  if (correction === 'holm') return holmAdjust(pValues);
  if (correction === 'bh') return benjaminiHochbergAdjust(pValues);
  return [...pValues];
}

// Indices sorted by p-value; ties keep input order, so the result does not depend on the sort's stability.
function ascendingOrder(pValues: readonly number[]): number[] {
  return pValues.map((_, index) => index).sort((a, b) => pValues[a]! - pValues[b]! || a - b);
}
