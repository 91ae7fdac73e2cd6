import type { Knex } from 'knex';
import type { ExperimentInput } from '../domain/statistics/index.js';
import { assembleInput, buildResultsQuery, variantKeys, type ResultsSubject, type ResultsWindow, type VariantRow } from './results-query.js';
import { metricColumns, sumsIndex } from './results-sql.js';
import type { ResultsState } from './results-state.js';
import { textArray } from './tracking-store.js';

// A results computation from the results state (docs/results-computation.md): one row per exposed identity
// instead of every tracking event of the window. An identity whose row counts an event after the window's end
// (last_at > to: an event stamped ahead of the clock, or after the experiment's end but stored before it ended),
// or that is pending (exposed after resolvePending ran), is taken from its raw events instead, in the same
// snapshot; if there are many of them the caller computes from the raw events altogether.

/** Above this many identities to take from the raw events, computing everything from them is cheaper. */
export const STATE_FALLBACK_MAX = 20_000;

/** See the query's comment. */
const STATE_SESSION_SETTINGS = 'set local enable_sort = off';

export interface StateQueryResult {
  input: ExperimentInput;
  /** Identities taken from their raw events. */
  fromRaw: number;
}

/**
 * The statistics' input of `subject` over `window` from `state` (which must serve it: stateServes), or null when
 * more than STATE_FALLBACK_MAX identities would have to come from the raw events.
 */
export async function queryStateInput(
  knex: Knex,
  subject: ResultsSubject,
  window: ResultsWindow,
  state: ResultsState,
  options: { statementTimeoutMs?: number } = {},
): Promise<StateQueryResult | null> {
  const variants = variantKeys(subject);
  const { values, sums } = metricColumns(subject.metrics, (k) => {
    const j = state.events.indexOf(subject.metrics[k]!.event);
    return (field) => `sums[${sumsIndex(j, field)}]`;
  });
  // Grouped by the variant's text, so that array_position runs once per group (per row it cost a third of the
  // time). The filter's columns are correlated (the planner guesses one row and would sort a million rows for two
  // groups), hence no sort for this query: the two groups are hashed.
  const sql = `
select array_position(cast(:variants as text[]), variant_min) as vi, count(*) as n${sums.map((c) => `,\n       ${c}`).join('')}
  from (select variant_min${values.map((c) => `,\n               ${c}`).join('')}
          from results_identities
         where experiment_id = :x and variant_min = variant_max and identifier_min = identifier_max
           and last_at <= cast(:to as timestamptz) and not pending) t
 group by variant_min`;
  return knex.transaction(
    async (trx) => {
      await trx.raw(STATE_SESSION_SETTINGS);
      if (options.statementTimeoutMs) await trx.raw(`set local statement_timeout = ${Math.floor(options.statementTimeoutMs)}`);
      const to = window.to.toISOString();
      const { rows: late } = await trx.raw<{ rows: { n: number; keys: string | null }[] }>(
        `select count(*) as n, string_agg(identity_key::text, ',') as keys from results_identities
          where experiment_id = ? and (last_at > ? or pending)`,
        [state.experimentId, to],
      );
      const fromRaw = Number(late[0]?.n ?? 0);
      if (fromRaw > STATE_FALLBACK_MAX) return null;
      const { rows } = await trx.raw<{ rows: VariantRow[] }>(sql, { variants: textArray(variants), x: state.experimentId, to });
      if (fromRaw > 0) {
        const raw = buildResultsQuery(subject, window, state.lookbackDays, 1, { identityKeys: `{${late[0]!.keys}}` });
        const { rows: rawRows } = await trx.raw<{ rows: VariantRow[] }>(raw.sql, raw.bindings);
        rows.push(...rawRows);
      }
      return { input: assembleInput(subject, rows), fromRaw };
    },
    { isolationLevel: 'repeatable read', readOnly: true },
  );
}
