import type { Knex } from 'knex';
import type { Actor } from '../contracts/envelope.js';
import { AccessGrant, Environment, Organisation, Project } from '../models/platform.js';
import { forbidden, type EnvironmentScope } from './types.js';

/**
 * DOMAIN.md "Who may do what" for environment-scoped commands: the environment exists, its organisation
 * has experimentation enabled, and the actor is `system` or an admin of the environment, its project or
 * its organisation. Every failure is the same 403, so a caller learns nothing about what exists.
 */
export async function authorizeEnvironment(trx: Knex.Transaction, environmentKey: string | undefined, actor: Actor): Promise<EnvironmentScope> {
  if (!environmentKey) throw forbidden();
  const environment = await Environment.query(trx).findOne({ key: environmentKey });
  if (!environment) throw forbidden();
  const project = await Project.query(trx).findById(environment.projectId);
  if (!project) throw forbidden();
  const organisation = await Organisation.query(trx).findById(project.organisationId);
  if (!organisation || !organisation.experimentationEnabled) throw forbidden();
  if (actor.type !== 'system') {
    const grant = await AccessGrant.query(trx)
      .where({ user_id: actor.id, role: 'admin' })
      .where((q) =>
        q
          .where({ scope: 'environment', scope_id: environment.key })
          .orWhere({ scope: 'project', scope_id: String(project.id) })
          .orWhere({ scope: 'organisation', scope_id: String(organisation.id) }),
      )
      .first();
    if (!grant) throw forbidden();
  }
  return { environment, project, organisation };
}
