import { BaseModel } from './base.js';
import type { ExpectedDirection } from '../contracts/experiments.js';

// A metric attached to an experiment; detaching deletes the row.
export class ExperimentMetric extends BaseModel {
  static override tableName = 'experiment_metrics';
  declare id: number;
  declare uuid: string;
  declare experimentId: number;
  declare metricId: number;
  declare expectedDirection: ExpectedDirection;
  declare createdAt: Date;
}
