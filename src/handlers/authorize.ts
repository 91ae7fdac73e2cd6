import type { Knex } from 'knex';
import type { Actor } from '../contracts/envelope.js';
import { Environment, Organisation, Project } from '../models/platform.js';
import { forbidden, type EnvironmentScope } from './types.js';

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
  const row = rows[0] as { environment: object; project: object; organisation: object; permitted: boolean } | undefined;
  if (!row || !row.permitted) throw forbidden();
  const organisation = Organisation.fromDatabaseJson(row.organisation);
  if (!organisation.experimentationEnabled) throw forbidden();
  return { environment: Environment.fromDatabaseJson(row.environment), project: Project.fromDatabaseJson(row.project), organisation };
}
