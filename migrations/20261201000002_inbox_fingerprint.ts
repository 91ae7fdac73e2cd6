import type { Knex } from 'knex';

// CONTRACT.md "Limits and hostile input": a command id belongs to the command that first used it. The inbox keeps
// a fingerprint of that command (signing key id, type, environment, actor, canonical payload) for good, and its
// reply body only for INBOX_REPLY_RETENTION_DAYS (then `reply` is null and a duplicate gets the status with an
// "expired" body). Rows from before this migration have no fingerprint: any command with their id matches them.
// processed_at only grows, so a BRIN index finds the replies to expire at almost no cost per insert.
export async function up(knex: Knex): Promise<void> {
  await knex.raw('alter table processed_commands add column fingerprint text');
  await knex.raw('alter table processed_commands alter column reply drop not null');
  await knex.raw('create index processed_commands_processed_at_brin on processed_commands using brin (processed_at)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop index if exists processed_commands_processed_at_brin');
  await knex.raw('alter table processed_commands drop column if exists fingerprint');
}
