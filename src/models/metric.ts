import type { Knex } from 'knex';
import { BaseModel } from './base.js';
import type { MetricAggregation, MetricDirection } from '../contracts/metrics.js';

// An environment's metric; immutable once created, soft-deleted (deletedAt).
export class Metric extends BaseModel {
  static override tableName = 'metrics';
  static override jsonAttributes = ['definition'];
  declare id: number;
  declare uuid: string;
  declare environmentId: number;
  declare name: string;
  declare description: string;
  declare aggregation: MetricAggregation;
  declare direction: MetricDirection;
  declare definition: Record<string, unknown>;
  declare createdAt: Date;
  declare updatedAt: Date;
  declare deletedAt: Date | null;
}

/** The environment's metric `id` unless deleted; chain `.forUpdate()` / `.forShare()` to lock it. */
export const findLiveMetric = (trx: Knex.Transaction, environmentId: number, id: number) =>
  Metric.query(trx).findById(id).where('environment_id', environmentId).whereNull('deleted_at');

/**
 * The live (not deleted) metrics among `ids`, of any environment, in one query. They are locked FOR SHARE
 * so that a concurrent metric.delete waits for this command and then sees the new attachments.
 */
export async function lockLiveMetrics(trx: Knex.Transaction, ids: number[]): Promise<Map<number, Metric>> {
  if (ids.length === 0) return new Map();
  const metrics = await Metric.query(trx).whereIn('id', ids).whereNull('deleted_at').forShare();
  return new Map(metrics.map((m) => [m.id, m]));
}
