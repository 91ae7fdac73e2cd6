import type { Knex } from 'knex';
import { BaseModel } from './base.js';
import type { ExperimentStatus } from '../domain/experiment-status.js';

// An experiment on a multivariate feature of the environment's project; soft-deleted (deletedAt).
export class Experiment extends BaseModel {
  static override tableName = 'experiments';
  declare id: number;
  declare uuid: string;
  declare environmentId: number;
  declare featureId: number;
  declare name: string;
  declare hypothesis: string;
  declare status: ExperimentStatus;
  declare exposureEvent: string;
  declare controlVariant: string;
  declare startedAt: Date | null;
  declare endedAt: Date | null;
  declare createdAt: Date;
  declare updatedAt: Date;
  declare deletedAt: Date | null;
}

/** The environment's experiment `id` unless deleted; chain `.forUpdate()` / `.forShare()` to lock it. */
export const findLiveExperiment = (trx: Knex.Transaction, environmentId: number, id: number) =>
  Experiment.query(trx).findById(id).where('environment_id', environmentId).whereNull('deleted_at');
