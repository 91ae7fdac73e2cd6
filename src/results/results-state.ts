import type { Knex } from 'knex';
import type { Logger } from '../logger.js';
import { eventBindings, slotAggregates, sumsArray, valueBound } from './results-sql.js';
import { loadResultsSubject, variantKeys, type ResultsSubject } from './results-query.js';
import { numberArray, textArray } from './tracking-store.js';

// The results state (docs/results-computation.md; migrations/20261201000040_results_state.ts): what it was built
// for, the lock that orders its writers, the derivation of identities' rows from the raw events, and the build
// of an experiment's state from the events already stored.

/** A results_states row: what the state of one experiment counts. */
export interface ResultsState {
  experimentId: number;
  environmentId: number;
  exposureEvent: string;
  feature: string;
  variants: string[];
  /** Metric events, in slot order. */
  events: string[];
  lookbackDays: number;
  windowFrom: Date;
  status: 'building' | 'ready';
}

/** A state with its experiment's end, which bounds what the state counts (null while not completed). */
export interface LiveResultsState extends ResultsState {
  endedAt: Date | null;
}

/** The state `subject` needs: its exposure definition, variants, metric events and window start. */
export function stateFor(subject: ResultsSubject, lookbackDays: number): Omit<ResultsState, 'status'> {
  return {
    experimentId: subject.experimentId,
    environmentId: subject.environmentId,
    exposureEvent: subject.exposureEvent,
    feature: subject.featureName,
    variants: [...variantKeys(subject)].sort(),
    events: [...new Set(subject.metrics.map((m) => m.event))],
    lookbackDays,
    windowFrom: subject.startedAt!,
  };
}

/** Whether `state` counts what `wanted` needs (the same definitions; its events may be more). */
export function stateServes(state: Omit<ResultsState, 'status'>, wanted: Omit<ResultsState, 'status'>): boolean {
  return (
    state.exposureEvent === wanted.exposureEvent &&
    state.feature === wanted.feature &&
    state.lookbackDays === wanted.lookbackDays &&
    state.windowFrom.getTime() === wanted.windowFrom.getTime() &&
    [...state.variants].sort().join('\u0000') === [...wanted.variants].sort().join('\u0000') &&
    wanted.events.every((e) => state.events.includes(e))
  );
}

const STATE_LOCK_CLASS = 7_302_114;

/**
 * Takes the state lock of each environment (ascending, so that two writers never wait on each other in a cycle),
 * held to the end of the transaction. Every write of the state (the ingester's, the build's) holds it, so that an
 * identity's row is always derived from, or added to with, every tracking event committed before it.
 */
export async function lockStates(trx: Knex.Transaction, environmentIds: readonly number[]): Promise<void> {
  const ids = [...new Set(environmentIds)].sort((a, b) => a - b);
  if (!ids.length) return;
  await trx.raw(`select count(pg_advisory_xact_lock(${STATE_LOCK_CLASS}, (e % 2147483647)::int)) from unnest(?::bigint[]) as e`, [numberArray(ids)]);
}

const stateColumns = `s.experiment_id, s.environment_id, s.exposure_event, s.feature, s.variants, s.events, s.lookback_days, s.window_from, s.status`;

function toState(row: Record<string, unknown>): LiveResultsState {
  return {
    experimentId: Number(row.experiment_id),
    environmentId: Number(row.environment_id),
    exposureEvent: row.exposure_event as string,
    feature: row.feature as string,
    variants: row.variants as string[],
    events: row.events as string[],
    lookbackDays: Number(row.lookback_days),
    windowFrom: row.window_from as Date,
    status: row.status as ResultsState['status'],
    endedAt: (row.ended_at as Date | null) ?? null,
  };
}

/** The states the ingester maintains in these environments: those of live experiments. */
export async function statesOfEnvironments(db: Knex | Knex.Transaction, environmentIds: readonly number[]): Promise<LiveResultsState[]> {
  const { rows } = await db.raw<{ rows: Record<string, unknown>[] }>(
    `select ${stateColumns}, x.ended_at from results_states s join experiments x on x.id = s.experiment_id
      where s.environment_id = any(?::bigint[]) and x.deleted_at is null order by s.experiment_id`,
    [numberArray([...new Set(environmentIds)])],
  );
  return rows.map(toState);
}

/** The state of one experiment, or null. */
export async function stateOf(db: Knex | Knex.Transaction, experimentId: number): Promise<LiveResultsState | null> {
  const { rows } = await db.raw<{ rows: Record<string, unknown>[] }>(
    `select ${stateColumns}, x.ended_at from results_states s join experiments x on x.id = s.experiment_id where s.experiment_id = ?`,
    [experimentId],
  );
  return rows[0] ? toState(rows[0]) : null;
}

/** Which identities a derivation covers: a bigint[] literal of identity keys, or a closed range of them. */
export type IdentityFilter = { keys: string } | { range: [bigint, bigint] };

/**
 * Writes the rows of `state` for the identities of `filter` from the raw events, replacing what was there: the
 * exposure summary over the window's exposures, and for identities with one variant and one identifier the six
 * numbers per metric event slot from F − lookback to the experiment's end (no end while it runs). An identity
 * exposed more than once in several variants keeps zero sums: it is out of the results for good. Answers how
 * many rows were written.
 */
export async function deriveIdentities(trx: Knex.Transaction, state: LiveResultsState, filter: IdentityFilter): Promise<number> {
  const bindings: Record<string, string | number> = {
    x: state.experimentId,
    env: state.environmentId,
    exposureEvent: state.exposureEvent,
    feature: state.feature,
    variants: textArray(state.variants),
    events: textArray(state.events),
    from: state.windowFrom.toISOString(),
    until: state.endedAt ? state.endedAt.toISOString() : 'infinity',
    lookback: state.lookbackDays,
    ...eventBindings(state.events),
    ...('keys' in filter ? { keys: filter.keys } : { lo: String(filter.range[0]), hi: String(filter.range[1]) }),
  };
  const exposureFilter = `t.environment_id = :env and t.event = :exposureEvent and t.feature = :feature
          and t.occurred_at >= cast(:from as timestamptz) and t.occurred_at <= cast(:until as timestamptz)
          and t.value_text = any(cast(:variants as text[]))`;
  const eventFilter = `e.environment_id = :env
       and e.event = any(cast(:events as text[]))
       and e.occurred_at >= cast(:from as timestamptz) - make_interval(days => :lookback)
       and e.occurred_at <= cast(:until as timestamptz)
       and e.occurred_at >= x.first_at - make_interval(days => :lookback)
       and ${valueBound('e')}
       and x.variant_min = x.variant_max and x.identifier_min = x.identifier_max`;
  // A list of identities (pending ones): each one's rows through the identity index, one lookup per identity and
  // partition. Only the identity and time are inside each LATERAL … OFFSET 0 (the other conditions cannot be pushed
  // into it), so the identity index is the only way in: on statistics that lag behind a new environment the
  // planner would otherwise take (environment_id, event, occurred_at) and read all of the environment's events once
  // per identity. (Reading an identity's rows once into a CTE for both sides was tried: the planner then joins the
  // two CTE scans in a nested loop, 41 s for 5,000 identities.) Ranges (the build): set-based.
  const range = 'range' in filter ? `and t.identity_key between cast(:lo as bigint) and cast(:hi as bigint)` : '';
  const exposureRows =
    'keys' in filter
      ? `unnest(cast(:keys as bigint[])) as k(identity_key)
         cross join lateral (select t.* from tracking_events t
                              where t.identity_key = k.identity_key and t.occurred_at >= cast(:from as timestamptz) offset 0) t
        where ${exposureFilter}`
      : `tracking_events t where ${exposureFilter} ${range}`;
  const eventJoin = !state.events.length
    ? ''
    : 'keys' in filter
      ? `left join lateral (select e.* from tracking_events e
                             where e.identity_key = x.identity_key
                               and e.occurred_at >= x.first_at - make_interval(days => :lookback) offset 0) e
          on ${eventFilter}`
      : `left join tracking_events e on e.identity_key = x.identity_key and ${eventFilter} ${range.replaceAll('t.', 'e.')}`;
  const slots = slotAggregates(state.events, 'x.first_at', 'all');
  const { rowCount } = await trx.raw<{ rowCount: number }>(
    `with exposed as materialized (
       select t.identity_key,
              min(t.value_text collate "C") as variant_min, max(t.value_text collate "C") as variant_max,
              min(t.identifier collate "C") as identifier_min, max(t.identifier collate "C") as identifier_max,
              min(t.occurred_at) as first_at, max(t.occurred_at) as last_exposure_at
         from ${exposureRows}
        group by t.identity_key
     ),
     per_identity as (
       select x.identity_key, x.first_at, x.last_exposure_at, x.variant_min, x.variant_max, x.identifier_min, x.identifier_max,
              ${state.events.length ? 'max(e.occurred_at)' : 'null::timestamptz'} as last_event_at${slots.map((c) => `,\n              ${c}`).join('')}
         from exposed x
         ${eventJoin}
        group by x.identity_key, x.first_at, x.last_exposure_at, x.variant_min, x.variant_max, x.identifier_min, x.identifier_max
     )
     insert into results_identities as r (experiment_id, identity_key, first_at, last_at, variant_min, variant_max, identifier_min, identifier_max, sums, pending)
     select :x, identity_key, first_at, greatest(last_exposure_at, last_event_at), variant_min, variant_max, identifier_min, identifier_max,
            ${state.events.length ? sumsArray(state.events) : `'{}'::float8[]`}, false
       from per_identity
     on conflict (experiment_id, identity_key) do update
        set first_at = excluded.first_at, last_at = excluded.last_at, variant_min = excluded.variant_min, variant_max = excluded.variant_max,
            identifier_min = excluded.identifier_min, identifier_max = excluded.identifier_max, sums = excluded.sums, pending = false`,
    bindings,
  );
  return rowCount ?? 0;
}

/**
 * The state of an experiment being started for the first time, in the start's transaction: ready at once, because
 * under the environment's state lock every ingester transaction either committed before (its exposures in the
 * window, a handful stamped at or after the start, are derived here) or comes after and keeps the state.
 */
export async function initResultsState(trx: Knex.Transaction, experimentId: number, lookbackDays: number): Promise<void> {
  const subject = await loadResultsSubject(trx, experimentId);
  if (!subject?.startedAt) return;
  const state: LiveResultsState = { ...stateFor(subject, lookbackDays), status: 'ready', endedAt: null };
  await lockStates(trx, [state.environmentId]);
  await replaceState(trx, state);
  await trx.raw('set local jit = off'); // see maintainResultsState
  const { rows } = await trx.raw<{ rows: { keys: string | null }[] }>(
    `select string_agg(distinct identity_key::text, ',') as keys from tracking_events
      where environment_id = ? and event = ? and feature = ? and occurred_at >= ?`,
    [state.environmentId, state.exposureEvent, state.feature, state.windowFrom.toISOString()],
  );
  if (rows[0]?.keys) await deriveIdentities(trx, state, { keys: `{${rows[0].keys}}` });
}

/** Writes `state`'s row in place of any earlier one (whose identities' rows go with it, by the foreign key). */
async function replaceState(trx: Knex.Transaction, state: ResultsState): Promise<void> {
  await trx.raw('delete from results_states where experiment_id = ?', [state.experimentId]);
  await trx.raw(
    `insert into results_states (experiment_id, environment_id, exposure_event, feature, variants, events, lookback_days, window_from, status)
     values (?, ?, ?, ?, ?::text[], ?::text[], ?, ?, ?)`,
    [state.experimentId, state.environmentId, state.exposureEvent, state.feature, textArray(state.variants), textArray(state.events), state.lookbackDays, state.windowFrom.toISOString(), state.status],
  );
}

/** Pending identities derived per transaction: each holds the environment's state lock for about half a second. */
const RESOLVE_CHUNK = 5_000;

/**
 * Derives the pending identities of `state` (pending: a first exposure new or moved earlier since their sums were
 * last read; the ingester marks them) from their raw events, in chunks, each under the environment's state lock.
 * Stops at as many as were pending when it began: an ingester that keeps exposing new identities meanwhile does not
 * keep it going (the computation takes those from the raw events). Answers how many it derived, or null when the
 * state was redefined meanwhile.
 */
export async function resolvePending(knex: Knex, state: ResultsState): Promise<number | null> {
  const { rows: counted } = await knex.raw<{ rows: { n: number }[] }>('select count(*) as n from results_identities where experiment_id = ? and pending', [state.experimentId]);
  const pendingAtStart = Number(counted[0]?.n ?? 0);
  let resolved = 0;
  while (resolved < pendingAtStart) {
    const n = await knex.transaction(async (trx) => {
      await trx.raw('set local jit = off'); // see maintainResultsState
      await lockStates(trx, [state.environmentId]);
      const live = await stateOf(trx, state.experimentId);
      if (!live || !sameDefinition(live, state)) return null;
      const { rows } = await trx.raw<{ rows: { keys: string | null; n: number }[] }>(
        `select string_agg(identity_key::text, ',') as keys, count(*) as n
           from (select identity_key from results_identities where experiment_id = ? and pending limit ?) t`,
        [state.experimentId, RESOLVE_CHUNK],
      );
      const n = Number(rows[0]?.n ?? 0);
      if (n) await deriveIdentities(trx, live, { keys: `{${rows[0]!.keys}}` });
      return n;
    });
    if (n === null) return null;
    resolved += n;
    if (n < RESOLVE_CHUNK) break;
  }
  return resolved;
}

/** The same definition both ways (stateServes allows more events). */
const sameDefinition = (a: Omit<ResultsState, 'status'>, b: Omit<ResultsState, 'status'>) => stateServes(a, b) && stateServes(b, a);

/** Identities per build transaction: each holds the environment's state lock for about half a second. */
const BUILD_CHUNK_IDENTITIES = 50_000;
const KEY_MIN = -(2n ** 63n);
const KEY_SPAN = 2n ** 64n;

/**
 * Builds the state of `wanted` from the events already stored, while the ingester keeps it up to date: the
 * results_states row is (re)written as 'building' first (the rows of an older definition are dropped), from then
 * on the ingester maintains it; then the identities are derived from the raw events in ranges of identity keys,
 * one short transaction each under the environment's state lock; then the state is marked 'ready'. Answers false
 * when the state was redefined meanwhile (by another builder), true when it is ready.
 */
export async function buildResultsState(knex: Knex, wanted: Omit<ResultsState, 'status'>, logger?: Logger): Promise<boolean> {
  const started = performance.now();
  // A state being built (by another computation, or one that stopped half-way) for a definition that serves is
  // built on, not dropped: derivations replace rows, so two builders of one definition do each other no harm.
  const definition = await knex.transaction(async (trx) => {
    await lockStates(trx, [wanted.environmentId]);
    const existing = await stateOf(trx, wanted.experimentId);
    if (existing && stateServes(existing, wanted)) return existing;
    await replaceState(trx, { ...wanted, status: 'building' });
    return wanted;
  });
  const unchanged = (state: ResultsState | null): state is LiveResultsState => state !== null && sameDefinition(state, definition);
  const { rows } = await knex.raw<{ rows: { n: number }[] }>(
    `select count(distinct identity_key) as n from tracking_events
      where environment_id = ? and event = ? and feature = ? and occurred_at >= ?`,
    [definition.environmentId, definition.exposureEvent, definition.feature, definition.windowFrom.toISOString()],
  );
  const chunks = Math.max(1, Math.ceil(Number(rows[0]?.n ?? 0) / BUILD_CHUNK_IDENTITIES));
  let identities = 0;
  for (let i = 0; i < chunks; i++) {
    const lo = KEY_MIN + (KEY_SPAN * BigInt(i)) / BigInt(chunks);
    const hi = KEY_MIN + (KEY_SPAN * BigInt(i + 1)) / BigInt(chunks) - 1n;
    const written = await knex.transaction(async (trx) => {
      await lockStates(trx, [wanted.environmentId]);
      const state = await stateOf(trx, wanted.experimentId);
      if (!unchanged(state)) return null;
      await trx.raw(BUILD_SESSION_SETTINGS);
      return deriveIdentities(trx, state, { range: [lo, hi] });
    });
    if (written === null) return false;
    identities += written;
    if (chunks > 1) logger?.info({ experimentId: wanted.experimentId, chunk: i + 1, of: chunks, identities }, 'results state build progress');
  }
  const ready = await knex.transaction(async (trx) => {
    await lockStates(trx, [wanted.environmentId]);
    if (!unchanged(await stateOf(trx, wanted.experimentId))) return false;
    await trx.raw(`update results_states set status = 'ready', updated_at = now() where experiment_id = ?`, [wanted.experimentId]);
    return true;
  });
  logger?.info({ experimentId: wanted.experimentId, identities, chunks, ms: Math.round(performance.now() - started), ready }, 'results state built');
  return ready;
}

/**
 * A build's ranges: both sides read in identity order through the identity index and merge-joined (a nested loop
 * would probe every partition once per identity: 103 s at a million identities against 47 s; hashing needs the
 * whole range's events in memory); no JIT (its compilation took longer than a range).
 */
const BUILD_SESSION_SETTINGS = "set local work_mem = '128MB'; set local jit = off; set local enable_nestloop = off; set local enable_hashjoin = off";
