import type { Knex } from 'knex';
import { analyzeExperiment } from '../domain/statistics/index.js';
import { computedIsFinal, resultsWindow } from '../domain/results-rules.js';
import { ExperimentResult, resultsView, type ResultsView } from '../models/results.js';
import { domainEvent, insertOutboxRows, outboxRow } from '../models/outbox.js';
import { loadResultsSubject, queryResultsInput, type ResultsSubject } from './results-query.js';
import { buildResultsState, resolvePending, stateFor, stateOf, stateServes } from './results-state.js';
import { queryStateInput } from './state-query.js';
import type { ResultsConfig, ResultsDeps } from './deps.js';

// One experiment's computation and its outcome: the results stored with `experiment.results.computed`, or the
// failure recorded with `experiment.results.failed` (DOMAIN.md "Results").

/** Statement timeout of the results query: a runaway query fails (and is retried) rather than hold a connection forever. */
const QUERY_TIMEOUT_MS = 10 * 60_000;

/**
 * Where a computation read its input: the results state (after deriving `resolved` pending identities; with
 * `fromRaw` identities from their raw events), or the raw events.
 */
export type ResultsSource = { kind: 'state'; fromRaw: number; resolved: number; builtMs?: number } | { kind: 'raw' };

export type ComputeOutcome =
  | { kind: 'computed'; view: ResultsView; source: ResultsSource; timings: { queryMs: number; statsMs: number } }
  | { kind: 'skipped'; reason: string };

/**
 * Computes and stores one experiment's results: the results query, the statistics, then in one transaction the
 * payload (the previous error cleared) and the `experiment.results.computed` event (outbox; its trigger wakes the relay). Skips
 * experiments that are gone or not started. Throws on failure; the caller decides on retry or recordResultsFailure.
 */
export async function computeResults(
  deps: ResultsDeps,
  experimentId: number,
  now = new Date(),
  options: { parts?: number; fromRaw?: boolean } = {},
): Promise<ComputeOutcome> {
  const { knex, config } = deps;
  const subject = await loadResultsSubject(knex, experimentId);
  if (!subject) return { kind: 'skipped', reason: 'experiment not found' };
  const window = resultsWindow(subject.startedAt, subject.endedAt, now);
  if (!window) return { kind: 'skipped', reason: 'experiment not started' };

  const started = performance.now();
  const fromState = options.fromRaw ? null : await inputFromState(deps, subject, window);
  const source: ResultsSource = fromState?.source ?? { kind: 'raw' };
  const input =
    fromState?.input ?? (await queryResultsInput(knex, subject, window, config.CUPED_LOOKBACK_DAYS, { statementTimeoutMs: QUERY_TIMEOUT_MS, parts: options.parts }));
  const queried = performance.now();
  const analysis = analyzeExperiment(input, { alpha: config.RESULTS_ALPHA, correction: config.RESULTS_CORRECTION, sequentialTau: config.SEQUENTIAL_TAU });
  const statsMs = performance.now() - queried;
  const payload = {
    srmPValue: analysis.srmPValue,
    exposures: analysis.exposures,
    window: { from: window.from.toISOString(), to: window.to.toISOString() },
    metrics: analysis.metrics,
  };
  const isFinal = computedIsFinal(subject.status, subject.endedAt, now);

  const view = await knex.transaction(async (trx) => {
    if (!(await lockLiveExperiment(trx, experimentId))) return null;
    const { rows } = await trx.raw<{ rows: Record<string, unknown>[] }>(
      `insert into experiment_results as r (experiment_id, as_of, payload, is_final, last_error_at, last_error)
       values (?, ?, ?::jsonb, ?, null, null)
       on conflict (experiment_id) do update
          set as_of = excluded.as_of, payload = excluded.payload, is_final = excluded.is_final,
              last_error_at = null, last_error = null, updated_at = now()
        where r.as_of is null or r.as_of <= excluded.as_of
       returning *`,
      [experimentId, now.toISOString(), JSON.stringify(payload), isFinal],
    );
    if (!rows[0]) return null; // a newer computation got there first
    const stored = ExperimentResult.fromDatabaseJson(rows[0]);
    const view = resultsView(stored);
    await emit(trx, config, subject, 'experiment.results.computed', { experimentId, ...view }, now);
    return view;
  });
  if (!view) return { kind: 'skipped', reason: 'experiment deleted or newer results stored' };
  return { kind: 'computed', view, source, timings: { queryMs: queried - started, statsMs } };
}

/**
 * The input from the experiment's results state, built first when it is missing or was built for another
 * definition (a metric with a new event attached, another CUPED lookback) while the experiment is running or
 * paused; null when the raw events must serve (a completed experiment without state, a build that lost to a
 * redefinition, too many identities past the window's end).
 */
async function inputFromState(deps: ResultsDeps, subject: ResultsSubject, window: { from: Date; to: Date }) {
  const wanted = stateFor(subject, deps.config.CUPED_LOOKBACK_DAYS);
  let state = await stateOf(deps.knex, subject.experimentId);
  let builtMs: number | undefined;
  if (!(state?.status === 'ready' && stateServes(state, wanted))) {
    if (subject.status !== 'running' && subject.status !== 'paused') return null;
    const t = performance.now();
    if (!(await buildResultsState(deps.knex, wanted, deps.logger))) return null;
    builtMs = performance.now() - t;
    state = await stateOf(deps.knex, subject.experimentId);
    if (!state) return null;
  }
  const resolved = await resolvePending(deps.knex, state);
  if (resolved === null) return null;
  const result = await queryStateInput(deps.knex, subject, window, state, { statementTimeoutMs: QUERY_TIMEOUT_MS });
  if (!result) return null;
  return { input: result.input, source: { kind: 'state', fromRaw: result.fromRaw, resolved, ...(builtMs !== undefined ? { builtMs } : {}) } as ResultsSource };
}

/**
 * Records a computation that failed for good: the last good payload stays, last_error_at/last_error are set, and
 * `experiment.results.failed` is emitted, in one transaction. False when the experiment is gone.
 */
export async function recordResultsFailure(deps: ResultsDeps, experimentId: number, error: unknown, now = new Date()): Promise<boolean> {
  const { knex, config } = deps;
  const message = describeError(error);
  const subject = await loadResultsSubject(knex, experimentId);
  if (!subject) return false;
  return knex.transaction(async (trx) => {
    if (!(await lockLiveExperiment(trx, experimentId))) return false;
    const { rows } = await trx.raw<{ rows: Record<string, unknown>[] }>(
      `insert into experiment_results as r (experiment_id, last_error_at, last_error) values (?, ?, ?)
       on conflict (experiment_id) do update set last_error_at = excluded.last_error_at, last_error = excluded.last_error, updated_at = now()
       returning *`,
      [experimentId, now.toISOString(), message],
    );
    const view = resultsView(ExperimentResult.fromDatabaseJson(rows[0]!));
    await emit(trx, config, subject, 'experiment.results.failed', { experimentId, ...view, error: message }, now);
    return true;
  });
}

/**
 * A short message for a failure: knex prefixes a database error's message with the whole statement (and its
 * bindings), which has no place in an event; the database's own message and SQLSTATE are kept.
 */
export function describeError(error: unknown): string {
  const e = error as { message?: unknown; code?: unknown; severity?: unknown } | null | undefined;
  let message = typeof e?.message === 'string' ? e.message : String(error);
  if (typeof e?.code === 'string' && typeof e?.severity === 'string') {
    const cut = message.lastIndexOf(' - ');
    message = `${cut >= 0 ? message.slice(cut + 3) : message} (SQLSTATE ${e.code})`;
  }
  return message.slice(0, 1000);
}

async function lockLiveExperiment(trx: Knex.Transaction, experimentId: number): Promise<boolean> {
  // KEY SHARE: holds off a delete of the row (environment.delete) until the results are written, without
  // blocking status changes.
  const row = await trx('experiments').where('id', experimentId).whereNull('deleted_at').forKeyShare().first('id');
  return Boolean(row);
}

/** A results event: no command and no actor caused it; keyed by the experiment's environment. */
async function emit(trx: Knex.Transaction, config: ResultsConfig, subject: ResultsSubject, type: string, data: unknown, now: Date): Promise<void> {
  const event = domainEvent({ type, environment: subject.environmentKey, occurredAt: now.toISOString(), commandId: null, actor: null, data });
  await insertOutboxRows(trx, [outboxRow(config.EVENTS_TOPIC, event)]);
}
