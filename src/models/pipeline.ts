import { BaseModel } from './base.js';

export class ProcessedCommand extends BaseModel {
  static override tableName = 'processed_commands';
  static override idColumn = 'command_id';
  static override jsonAttributes = ['reply'];
  declare commandId: string;
  declare type: string;
  declare environmentKey: string | null;
  declare status: number;
  /** Null once past INBOX_REPLY_RETENTION_DAYS. */
  declare reply: unknown;
  declare fingerprint: string | null;
  declare replyTo: string | null;
  declare processedAt: Date;
}
