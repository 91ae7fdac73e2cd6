// The results benchmark's check of the state at scale (bench/results.ts): the statistics' input from the results
// state against the one from the raw events, over the same window. Counts must be identical; sums of values may
// differ in the last bits only, because float8 additions happen in another order (values with cents are not exact
// binary fractions), so the largest relative difference is reported.
import type { Knex } from 'knex';
import { loadResultsSubject, queryResultsInput } from '../src/results/results-query.js';
import { resolvePending, stateOf } from '../src/results/results-state.js';
import { queryStateInput } from '../src/results/state-query.js';
import { config } from './results-data.js';

export async function compareWithRaw(knex: Knex, experimentId: number) {
  const subject = (await loadResultsSubject(knex, experimentId))!;
  const state = await stateOf(knex, experimentId);
  if (!state) throw new Error('no results state');
  // As a computation does: the identities the ingester left pending are derived first.
  const t = performance.now();
  const resolved = await resolvePending(knex, state);
  const resolveMs = Math.round(performance.now() - t);
  const window = { from: subject.startedAt!, to: new Date() };
  const raw = await queryResultsInput(knex, subject, window, config.CUPED_LOOKBACK_DAYS);
  const fromState = await queryStateInput(knex, subject, window, state);
  if (!fromState) throw new Error('the state could not serve');
  let maxRelativeDifference = 0;
  let countsDiffer = 0;
  const walk = (a: unknown, b: unknown, path: string, isCount: boolean) => {
    if (typeof a === 'number' && typeof b === 'number') {
      if (isCount) {
        if (a !== b) countsDiffer++;
      } else if (a !== b) {
        maxRelativeDifference = Math.max(maxRelativeDifference, Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b)));
      }
      return;
    }
    if (a && b && typeof a === 'object' && typeof b === 'object') {
      for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
        walk((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key], `${path}.${key}`, isCount || key === 'n' || key === 'exposures');
      }
      return;
    }
    if (a !== b) countsDiffer++;
  };
  walk(raw, fromState.input, '', false);
  return { identical: countsDiffer === 0 && maxRelativeDifference === 0, countsDiffer, maxRelativeDifference, identitiesFromRaw: fromState.fromRaw, resolved, resolveMs };
}
