import type { Knex } from 'knex';
import type { z } from 'zod';
import type { Actor, CommandEnvelope, ErrorBody } from '../contracts/envelope.js';
import type { Config } from '../config.js';
import type { Environment, Organisation, Project } from '../models/platform.js';

/** The environment a scoped command acts in, already authorised (see handlers/authorize.ts). */
export interface EnvironmentScope {
  environment: Environment;
  project: Project;
  organisation: Organisation;
}

/** What a handler receives: the validated command and the open transaction. No Kafka, no Redis. */
export interface CommandContext {
  trx: Knex.Transaction;
  command: CommandEnvelope;
  actor: Actor;
  /** Set for `scope: 'environment'` handlers. */
  scope?: EnvironmentScope;
  now: Date;
  config: Pick<Config, 'RESULTS_REFRESH_MIN_INTERVAL_S' | 'CUPED_LOOKBACK_DAYS'>;
}

export interface EventDraft {
  type: string;
  data: unknown;
  /** Message key and `environment` field; defaults to the command's environment. */
  environment?: string | null;
  /** Kafka key when there is no environment (platform events: the organisation id). */
  key?: string;
}

export interface AuditDraft {
  action: string;
  resourceType: string;
  resourceId: string | number | null;
  before: unknown;
  after: unknown;
}

/** A job the pipeline enqueues after the transaction commits (e.g. a results computation). */
export interface JobDraft {
  queue: 'results';
  name: string;
  data: Record<string, unknown>;
  jobId: string;
}

export interface HandlerResult {
  status: 200 | 201 | 202 | 204;
  body: unknown;
  events?: EventDraft[];
  audit?: AuditDraft[];
  jobs?: JobDraft[];
}

export interface CommandHandler<Schema extends z.ZodType = z.ZodType> {
  type: string;
  /** `platform`: system actor only, no environment. `environment`: DOMAIN.md "Who may do what". */
  scope: 'platform' | 'environment';
  payload: Schema;
  handle(ctx: CommandContext, payload: z.output<Schema>): Promise<HandlerResult>;
}

export function defineHandler<Schema extends z.ZodType>(handler: CommandHandler<Schema>): CommandHandler<Schema> {
  return handler;
}

/** Thrown by a handler to answer with an error; the transaction is rolled back. */
export class CommandRejection extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 405 | 409 | 429,
    readonly body: ErrorBody | (Record<string, unknown> & { detail: string }),
  ) {
    super(`command rejected with ${status}: ${JSON.stringify(body)}`);
  }
}

export const notFound = () => new CommandRejection(404, { detail: 'Not found.' });
export const forbidden = () => new CommandRejection(403, { detail: 'You do not have permission to perform this action.' });
export const invalid = (body: ErrorBody) => new CommandRejection(400, body);
