import type { Knex } from 'knex';

// Results state kept at ingest (docs/results-computation.md): one row per experiment and exposed identity, split
// at the identity's first exposure, so that a results computation reads about one row per identity instead of
// every tracking event of the window.
//
// results_states: which experiments have state, and what it was built for. The ingester maintains the state of
//   every row here (status 'building' included); a computation uses it only when 'ready' and built for what the
//   experiment is now (exposure event, feature, variants, metric events, CUPED lookback, window start).
// results_identities: per experiment and identity (identity_key, as in tracking_events): the exposure summary
//   (least and greatest variant and identifier: an identity is in the results when both pairs are equal), the
//   first exposure F, last_at (the latest event time the row counts: a computation whose window ends before it
//   takes that identity from the raw events), and `sums`, six numbers per metric event slot j of
//   results_states.events: in-window count, pre-exposure count, in-window Σ value, in-window values, pre Σ value,
//   pre values (pre-exposure = [F − lookback, F)). `pending` while the identity's first exposure is new or moved
//   earlier: its sums are read from its raw events by the next computation (the partial index finds those rows;
//   it is on `pending`, not on a null `sums`, so that the ingester's updates of sums stay HOT updates).
// tracking_events gains (identity_key, occurred_at): the ingester reads one identity's events when its first
//   exposure arrives or moves earlier, and the state build reads them in identity ranges. The environment is not
//   in it on purpose: see deriveIdentities in src/results/results-state.ts.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create table results_states (
      experiment_id bigint primary key references experiments (id) on delete cascade,
      environment_id bigint not null,
      exposure_event text not null,
      feature text not null,
      variants text[] not null,
      events text[] not null,
      lookback_days integer not null check (lookback_days >= 0),
      window_from timestamptz not null,
      status text not null check (status in ('building', 'ready')),
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    )
  `);
  await knex.raw('create index results_states_environment on results_states (environment_id)');
  // fillfactor 80: the ingester rewrites rows in place (sums, last_at), which stays a HOT update with room on the page.
  await knex.raw(`
    create table results_identities (
      experiment_id bigint not null references results_states (experiment_id) on delete cascade,
      identity_key bigint not null,
      first_at timestamptz not null,
      last_at timestamptz not null,
      variant_min text collate "C" not null,
      variant_max text collate "C" not null,
      identifier_min text collate "C" not null,
      identifier_max text collate "C" not null,
      sums float8[],
      pending boolean not null default false,
      primary key (experiment_id, identity_key)
    ) with (fillfactor = 80)
  `);
  await knex.raw('create index results_identities_pending on results_identities (experiment_id, identity_key) where pending');
  await knex.raw('create index tracking_events_identity_time on tracking_events (identity_key, occurred_at)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop index if exists tracking_events_identity_time');
  await knex.raw('drop table if exists results_identities');
  await knex.raw('drop table if exists results_states');
}
