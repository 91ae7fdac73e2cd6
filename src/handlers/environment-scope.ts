import type { Knex } from 'knex';
import type { CommandContext, EnvironmentScope } from './types.js';

/** The authorised scope of an environment-scoped command; the pipeline always sets it for them. */
export function scopeOf(ctx: CommandContext): EnvironmentScope {
  if (!ctx.scope) throw new Error(`${ctx.command.type} ran without an environment scope`);
  return ctx.scope;
}

/**
 * Runs `insert` in a savepoint and answers null when it breaks the unique index `constraint`: that is how
 * the database settles two commands racing for the same slot. Without the savepoint the violation would
 * abort the whole transaction, and with it the rejection the caller is about to answer.
 */
export async function insertUnlessTaken<T>(trx: Knex.Transaction, constraint: string, insert: (savepoint: Knex.Transaction) => Promise<T>): Promise<T | null> {
  try {
    return await trx.transaction(insert);
  } catch (error) {
    if (isUniqueViolation(error, constraint)) return null;
    throw error;
  }
}

function isUniqueViolation(error: unknown, constraint: string): boolean {
  // Objection wraps the driver's error in `nativeError`; knex passes it through.
  const native = ((error as { nativeError?: unknown }).nativeError ?? error) as { code?: string; constraint?: string };
  return native.code === '23505' && native.constraint === constraint;
}
