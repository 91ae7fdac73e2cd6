import { expect } from 'vitest';
import type { Settings } from './reference-statistics.js';
import type { TrackingInput } from './helpers.js';

// The end-to-end results test's dataset and settings (results.test.ts).

export const ms = (base: Date, offset: number) => new Date(base.getTime() + offset);

// Every results setting away from its default; each is shown to take effect below.
export const SETTINGS: Settings = { alpha: 0.1, correction: 'bh', tau: 1000 };
export const LOOKBACK_DAYS = 3;
export const WORKER_SETTINGS = { RESULTS_ALPHA: '0.1', RESULTS_CORRECTION: 'bh', SEQUENTIAL_TAU: '1000', CUPED_LOOKBACK_DAYS: String(LOOKBACK_DAYS) };

/** Equal to 7 decimals, or both null (the open end of a one-sided interval). */
export function expectClose(got: number | null, want: number | null, what: string): void {
  if (want === null || got === null) expect(got, what).toBe(want);
  else expect(Math.abs(got - want), `${what}: ${got} vs ${want}`).toBeLessThan(5e-8 * Math.max(1, Math.abs(want)));
}

/** Clearly different: a setting changed the number. */
export const expectDifferent = (a: number | null, b: number | null, what: string) => expect(Math.abs((a ?? 0) - (b ?? 0)), what).toBeGreaterThan(1e-4);
export const DAY = 86_400_000;

/**
 * A known dataset around the experiment's start S (exposure event '$flag_exposure', feature `feature`):
 * 120 control and 110 variant_a identities with purchases (some without value) and page views after exposure;
 * purchases before exposure inside the window and before the window (CUPED; some 5 days before, beyond the test's
 * CUPED_LOOKBACK_DAYS of 3 but within the default 14), one beyond the lookback and one after
 * the window's end; two identities exposed to both variants, one to an unknown variant, one to another feature,
 * one only before the window, and one exposed before the window and again inside it.
 */
export function dataset(S: Date, feature: string): TrackingInput[] {
  const events: TrackingInput[] = [];
  const expose = (identifier: string, value: string, at: Date, f = feature) => events.push({ event: '$flag_exposure', identifier, feature: f, value, at });
  const purchase = (identifier: string, at: Date, value?: number) => events.push({ event: 'purchase', identifier, at, ...(value !== undefined ? { value } : {}) });
  const view = (identifier: string, at: Date) => events.push({ event: 'page_view', identifier, at });
  for (let i = 0; i < 120; i++) {
    const id = `c${i}`;
    const first = ms(S, 200 + i * 2);
    expose(id, 'control', first);
    if (i % 5 === 0) expose(id, 'control', ms(S, 900 + i));
    if (i % 4 === 0) purchase(id, ms(first, 10), (i % 5) + 1);
    if (i % 8 === 0) purchase(id, ms(first, 20), 2.5);
    if (i % 10 === 1) purchase(id, ms(S, 50), 7); // in the window, before the first exposure: pre-exposure only
    if (i % 6 === 3) purchase(id, ms(S, -20 * DAY), 100); // beyond the 14-day lookback: nowhere
    for (let k = 0; k < i % 3; k++) view(id, ms(first, 30 + k));
  }
  for (let i = 0; i < 110; i++) {
    const id = `t${i}`;
    const first = ms(S, 250 + i * 2);
    expose(id, 'variant_a', first);
    if (i % 5 === 1) expose(id, 'variant_a', ms(S, 950 + i));
    if (i % 3 === 0) purchase(id, ms(first, 10), (i % 6) + 1);
    if (i % 9 === 0) purchase(id, ms(first, 15)); // no value: counts for occurrence and count only
    if (i % 7 === 2) purchase(id, ms(S, -2 * DAY), 3); // before the window, within the lookback: pre-exposure
    if (i % 7 === 4) purchase(id, ms(S, -5 * DAY), 9); // within 14 days before, not within the test's 3
    for (let k = 0; k < (i + 1) % 3; k++) view(id, ms(first, 30 + k));
  }
  // Exposed to both variants: left out, with their purchases.
  for (const id of ['both1', 'both2']) {
    expose(id, 'control', ms(S, 300));
    expose(id, 'variant_a', ms(S, 400));
    purchase(id, ms(S, 500), 50);
  }
  expose('unknown-variant', 'variant_z', ms(S, 300)); // not a variant of the experiment
  purchase('unknown-variant', ms(S, 500), 50);
  expose('other-feature', 'control', ms(S, 300), `${feature}_other`);
  purchase('other-feature', ms(S, 500), 50);
  expose('early-only', 'control', ms(S, -3600_000)); // exposed before the window only
  purchase('early-only', ms(S, 500), 50);
  expose('early-again', 'variant_a', ms(S, -3600_000)); // before the window (ignored), then control inside it
  expose('early-again', 'control', ms(S, 600));
  purchase('early-again', ms(S, 610), 4);
  purchase('c1', ms(S, 2 * 3600_000)); // after the window's end (the compute runs long before)
  return events;
}

