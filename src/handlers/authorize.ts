import type { Knex } from 'knex';
import type { Actor } from '../contracts/envelope.js';
import { Environment, Organisation, Project } from '../models/platform.js';
import { CommandRejection, forbidden, type EnvironmentScope } from './types.js';

/**
 * DOMAIN.md "Who may do what" for environment-scoped commands: the environment exists, its organisation
 * has experimentation enabled, and the actor is `system` or an admin of the environment, its project or
 * its organisation. Every failure is the same 403, so a caller learns nothing about what exists.
 * One query: it runs for every environment-scoped command.
 */
export async function authorizeEnvironment(trx: Knex.Transaction, environmentKey: string | undefined, actor: Actor): Promise<EnvironmentScope> {
  if (!environmentKey) throw forbidden();
  const userId = actor.type === 'user' ? actor.id : null;
  const { rows } = await trx.raw(
    `select to_jsonb(e) as environment, to_jsonb(p) as project, to_jsonb(o) as organisation,
            (?::text is null or exists (
              select 1 from access_grants g
              where g.user_id = ?::text and g.role = 'admin'
                and ((g.scope = 'environment' and g.scope_id = e.key)
                  or (g.scope = 'project' and g.scope_id = p.id::text)
                  or (g.scope = 'organisation' and g.scope_id = o.id::text)))) as permitted
     from environments e
     join projects p on p.id = e.project_id
     join organisations o on o.id = p.organisation_id
     where e.key = ?`,
    [userId, userId, environmentKey],
  );
  return scopeOrForbidden(rows[0] as ScopeRow | undefined);
}

interface ScopeRow {
  environment: object;
  project: object;
  organisation: object;
  permitted: boolean;
}

function scopeOrForbidden(row: ScopeRow | undefined): EnvironmentScope {
  if (!row || !row.permitted) throw forbidden();
  const organisation = Organisation.fromDatabaseJson(row.organisation);
  if (!organisation.experimentationEnabled) throw forbidden();
  return { environment: Environment.fromDatabaseJson(row.environment), project: Project.fromDatabaseJson(row.project), organisation };
}

/**
 * authorizeEnvironment for many (environment, actor) pairs in ONE statement (a group asks for all of its pairs
 * up front, instead of a round trip per pair), answered under the same rules, keyed by `pairKey`: the scope, or
 * null where authorizeEnvironment would answer its 403. The same
 * statement sets the transaction's `lock_timeout` (`set_config(…, true)` is `set local`), which would
 * otherwise cost a round trip of its own; it returns one row even for no pairs, so the setting always runs.
 */
export async function authorizeEnvironments(trx: Knex.Transaction, pairs: ReadonlyArray<{ environmentKey: string; actor: Actor }>, lockTimeoutMs: number): Promise<Map<string, EnvironmentScope | null>> {
  const { rows } = await trx
    .raw<{ rows: Array<Partial<ScopeRow> & { ord: number | null }> }>(
      `select set_config('lock_timeout', ?::text, true) as bound, a.*
       from (values (1)) as one(x)
       left join lateral (
         select x.ord, to_jsonb(e) as environment, to_jsonb(p) as project, to_jsonb(o) as organisation,
                (x.user_id is null or exists (
                  select 1 from access_grants g
                  where g.user_id = x.user_id and g.role = 'admin'
                    and ((g.scope = 'environment' and g.scope_id = e.key)
                      or (g.scope = 'project' and g.scope_id = p.id::text)
                      or (g.scope = 'organisation' and g.scope_id = o.id::text)))) as permitted
         from unnest(?::text[], ?::text[]) with ordinality as x(env_key, user_id, ord)
         join environments e on e.key = x.env_key
         join projects p on p.id = e.project_id
         join organisations o on o.id = p.organisation_id
       ) a on true`,
      [String(Math.max(1, Math.floor(lockTimeoutMs))), pairs.map((p) => p.environmentKey), userIds(pairs)],
    )
    .options({ name: 'expw_authorize_environments' });
  const found = new Map<number, ScopeRow>();
  for (const row of rows) if (row.ord !== null) found.set(Number(row.ord), row as ScopeRow);
  const answers = new Map<string, EnvironmentScope | null>();
  pairs.forEach((pair, i) => {
    let scope: EnvironmentScope | null;
    try {
      scope = scopeOrForbidden(found.get(i + 1));
    } catch (error) {
      if (!(error instanceof CommandRejection)) throw error;
      scope = null;
    }
    answers.set(pairKey(pair.environmentKey, pair.actor), scope);
  });
  return answers;
}

// pg sends a JS array with nulls as a Postgres array with NULLs; knex's types only admit string[].
const userIds = (pairs: ReadonlyArray<{ actor: Actor }>) => pairs.map((p) => (p.actor.type === 'user' ? p.actor.id : null)) as string[];

/** The key of an (environment, actor) pair in authorizeEnvironments' answer. */
export const pairKey = (environmentKey: string | undefined, actor: Actor): string => `${environmentKey ?? ''}\u0000${actor.type}\u0000${actor.id}`;
