import { BaseModel } from './base.js';
import type { FeatureVariant } from '../contracts/platform.js';

export class Organisation extends BaseModel {
  static override tableName = 'organisations';
  declare id: number;
  declare name: string;
  declare experimentationEnabled: boolean;
  declare createdAt: Date;
  declare updatedAt: Date;
}

export class Project extends BaseModel {
  static override tableName = 'projects';
  declare id: number;
  declare organisationId: number;
  declare name: string;
  declare createdAt: Date;
  declare updatedAt: Date;
}

export class Environment extends BaseModel {
  static override tableName = 'environments';
  declare id: number;
  declare key: string;
  declare projectId: number;
  declare name: string;
  declare createdAt: Date;
  declare updatedAt: Date;
}

export class Feature extends BaseModel {
  static override tableName = 'features';
  static override jsonAttributes = ['variants'];
  declare id: number;
  declare projectId: number;
  declare name: string;
  declare type: 'STANDARD' | 'MULTIVARIATE';
  declare variants: FeatureVariant[];
  declare createdAt: Date;
  declare updatedAt: Date;
}

export class AccessGrant extends BaseModel {
  static override tableName = 'access_grants';
  static override idColumn = ['user_id', 'scope', 'scope_id', 'role'];
  declare userId: string;
  declare scope: 'organisation' | 'project' | 'environment';
  declare scopeId: string;
  declare role: 'admin';
  declare createdAt: Date;
}
