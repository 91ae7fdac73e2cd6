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
