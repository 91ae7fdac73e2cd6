import type { CommandHandler } from './types.js';
import { upsertOrganisation } from './platform/organisation-upsert.js';
import { upsertProject } from './platform/project-upsert.js';
import { upsertEnvironment } from './platform/environment-upsert.js';
import { deleteEnvironment } from './platform/environment-delete.js';
import { upsertFeature } from './platform/feature-upsert.js';
import { grantAccess, revokeAccess } from './platform/access.js';
import { environmentHandlers } from './environment-handlers.js';

// Every command type the worker answers, by its `type`.
const all: CommandHandler[] = [
  upsertOrganisation,
  upsertProject,
  upsertEnvironment,
  deleteEnvironment,
  upsertFeature,
  grantAccess,
  revokeAccess,
  ...environmentHandlers,
] as CommandHandler[];

export const handlers: ReadonlyMap<string, CommandHandler> = new Map(all.map((h) => [h.type, h]));
