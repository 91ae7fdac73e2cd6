import type { Knex } from 'knex';
import { TRACKING_VALUE_MAX } from '../contracts/tracking.js';
import { isTransientError } from '../domain/retry.js';
import { eventBindings, slotAggregates, SLOT_FIELDS, sumsArray, sumsIndex } from './results-sql.js';
import { lockStates, statesOfEnvironments, type LiveResultsState } from './results-state.js';
import { numberArray, textArray, type TrackingRow } from './tracking-store.js';

// The ingester's half of the results state (docs/results-computation.md): called in the transaction that stores a
// batch of tracking rows, after they are inserted, it brings the state of every experiment of the batch's
// environments up to date with them, so the state commits with the rows and their Kafka offsets:
//  1. the batch's exposures are merged into the identities' exposure summaries (least/greatest, first exposure F);
//     an identity whose F is new or moved earlier becomes pending: its sums need its raw events,
//     which the next computation reads for all pending identities at once (resolvePending, results-state.ts);
//  2. the batch's metric events are added to the rows of identities exposed and not pending, each to the
//     in-window or pre-exposure part of its slot by its time against the row's F.
// Neither step reads raw events, so the cost per event stays a lookup and an update of one row.

/** An experiment whose state could not be kept: it was dropped (the next computation builds it again). */
export interface DroppedState {
  experimentId: number;
  error: unknown;
}

/**
 * Brings the results state up to date with `rows`, just inserted in `trx`. Answers the identities made pending.
 * Each experiment's part runs under a savepoint: if the database refuses it for a reason that retrying would not
 * cure (not transient by the shared retry policy, domain/retry.ts), that experiment's state is dropped and
 * `onDropped` told, and the rows are stored all the same: the state must never stop the tracking partition.
 */
export async function maintainResultsState(
  trx: Knex.Transaction,
  rows: readonly TrackingRow[],
  onDropped: (dropped: DroppedState) => void = () => {},
): Promise<number> {
  if (!rows.length) return 0;
  const environmentIds = [...new Set(rows.map((r) => r.environmentId))];
  // Cheap test first: most environments run no experiment.
  const { rows: any } = await trx.raw<{ rows: unknown[] }>('select 1 from results_states where environment_id = any(?::bigint[]) limit 1', [
    numberArray(environmentIds),
  ]);
  if (!any.length) return 0;
  // Short statements whose plans the planner prices high (a lookup per identity in each partition): JIT
  // compilation would take about a second each, for nothing.
  await trx.raw('set local jit = off');
  await lockStates(trx, environmentIds);
  let pending = 0;
  for (const state of await statesOfEnvironments(trx, environmentIds)) {
    // Events after the experiment's end count nowhere (an optimisation only: the computation takes an identity
    // with events past its window's end from the raw events anyway).
    const mine = rows.filter((r) => r.environmentId === state.environmentId && (state.endedAt === null || r.occurredAt <= state.endedAt));
    await trx.raw('savepoint results_state');
    try {
      pending += await mergeExposures(trx, state, mine);
      await addMetricEvents(trx, state, mine);
      await trx.raw('release savepoint results_state');
    } catch (error) {
      // A failure that is not the database's (no SQLSTATE) goes up as before: the batch is tried again.
      if (isTransientError(error) || !hasSqlState(error)) throw error;
      await trx.raw('rollback to savepoint results_state');
      await trx.raw('delete from results_states where experiment_id = ?', [state.experimentId]);
      onDropped({ experimentId: state.experimentId, error });
    }
  }
  return pending;
}

const hasSqlState = (error: unknown) => /^[0-9A-Z]{5}$/.test(String((error as { code?: unknown } | null)?.code ?? ''));

/** Step 1; answers how many identities it made pending. */
async function mergeExposures(trx: Knex.Transaction, state: LiveResultsState, rows: readonly TrackingRow[]): Promise<number> {
  const from = state.windowFrom.getTime();
  const exposures = rows.filter(
    (r) => r.event === state.exposureEvent && r.feature === state.feature && r.valueText !== null && state.variants.includes(r.valueText) && r.occurredAt.getTime() >= from,
  );
  if (!exposures.length) return 0;
  const { rows: out } = await trx.raw<{ rows: { pending: number }[] }>(
    `with b as (
       select hashtextextended(u.identifier, 0) as identity_key, u.identifier, u.value_text, u.occurred_at
         from unnest(?::text[], ?::text[], ?::timestamptz[]) as u(identifier, value_text, occurred_at)
     ),
     up as (
       insert into results_identities as r (experiment_id, identity_key, first_at, last_at, variant_min, variant_max, identifier_min, identifier_max, sums, pending)
       select ?, identity_key, min(occurred_at), max(occurred_at), min(value_text collate "C"), max(value_text collate "C"),
              min(identifier collate "C"), max(identifier collate "C"), null, true
         from b group by identity_key
       on conflict (experiment_id, identity_key) do update
          set first_at = least(r.first_at, excluded.first_at), last_at = greatest(r.last_at, excluded.last_at),
              variant_min = least(r.variant_min, excluded.variant_min), variant_max = greatest(r.variant_max, excluded.variant_max),
              identifier_min = least(r.identifier_min, excluded.identifier_min), identifier_max = greatest(r.identifier_max, excluded.identifier_max),
              pending = r.pending or excluded.first_at < r.first_at
       returning r.pending
     )
     select count(*) filter (where pending) as pending from up`,
    [
      textArray(exposures.map((r) => r.identifier)),
      textArray(exposures.map((r) => r.valueText)),
      textArray(exposures.map((r) => r.occurredAt.toISOString())),
      state.experimentId,
    ],
  );
  return Number(out[0]?.pending ?? 0);
}

/** Step 2. */
async function addMetricEvents(trx: Knex.Transaction, state: LiveResultsState, rows: readonly TrackingRow[]): Promise<void> {
  const earliest = state.windowFrom.getTime() - state.lookbackDays * 86_400_000;
  const events = rows.filter(
    (r) => state.events.includes(r.event) && r.occurredAt.getTime() >= earliest && (r.valueNum === null || Math.abs(r.valueNum) <= TRACKING_VALUE_MAX),
  );
  if (!events.length) return;
  const slots = slotAggregates(state.events, 'r.first_at', 'all', 'b');
  const adds = state.events.flatMap((_, j) => SLOT_FIELDS.map((f) => `r.sums[${sumsIndex(j, f)}] + excluded.sums[${sumsIndex(j, f)}]`));
  // The rows are updated through INSERT … ON CONFLICT: every row is then reached through the primary key, one
  // lookup per identity, whatever the planner believes of the table (statistics lag behind a state that grows
  // by thousands of rows a second, and an UPDATE … FROM planned on stale ones can scan the experiment's rows once
  // per event). Only identities with a row get here, so nothing is inserted. A pending row is left
  // alone: its sums will come from its raw events, these included.
  await trx.raw(
    `with b as (
       select hashtextextended(u.identifier, 0) as identity_key, u.event, u.value_num, u.occurred_at
         from unnest(cast(:identifiers as text[]), cast(:names as text[]), cast(:values as float8[]), cast(:times as timestamptz[])) as u(identifier, event, value_num, occurred_at)
     ),
     d as (
       select b.identity_key, min(r.first_at) as first_at, max(b.occurred_at) as l${slots.map((c) => `,\n              ${c}`).join('')}
         from b
        cross join lateral (
          select r.first_at from results_identities r
           where r.experiment_id = :x and r.identity_key = b.identity_key
             and r.variant_min = r.variant_max and r.identifier_min = r.identifier_max and not r.pending
          offset 0) r
        where b.occurred_at >= r.first_at - make_interval(days => :lookback)
        group by b.identity_key
     )
     insert into results_identities as r (experiment_id, identity_key, first_at, last_at, variant_min, variant_max, identifier_min, identifier_max, sums, pending)
     select :x, d.identity_key, d.first_at, d.l, '', '', '', '', ${sumsArray(state.events)}, false from d
     on conflict (experiment_id, identity_key) do update
        set sums = array[${adds.join(', ')}]::float8[], last_at = greatest(r.last_at, excluded.last_at)`,
    {
      identifiers: textArray(events.map((r) => r.identifier)),
      names: textArray(events.map((r) => r.event)),
      values: numberArray(events.map((r) => r.valueNum)),
      times: textArray(events.map((r) => r.occurredAt.toISOString())),
      x: state.experimentId,
      lookback: state.lookbackDays,
      ...eventBindings(state.events),
    },
  );
}
