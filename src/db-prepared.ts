import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import { isStalePreparedStatement } from './domain/retry.js';
// knex ships its dialects untyped; this is the class `client: 'pg'` resolves to.
// @ts-expect-error no declaration file for knex's internal dialect module
import PgDialect from 'knex/lib/dialects/postgres/index.js';

// Postgres parses, analyses and plans an unnamed statement every time it is sent; a named (prepared) one is
// parsed once per connection and then only bound and executed. Measured here (2-core VM, a small table with a
// unique index, 5,000 inserts in one transaction): 0.07-0.08 ms of backend CPU per unnamed insert, 0.03-0.04
// named, and half the round trip. The pipeline's own statements carry names of their own; this names the
// handlers' frequent inserts (objection's `insert … values … returning`), so no call site needs to know.
//  - Only `insert … values` texts: their plan reads no table, so the plan Postgres may cache for a prepared
//    statement (its generic plan, made for the tables as they were then) cannot go stale as tables grow. A
//    select or update keeps a plan made for each run.
//  - Only with bindings: statements without go through the simple protocol, which also runs multi-statement
//    texts that a prepared statement cannot.
//  - Bounded, so variable-arity texts (multi-row inserts of every length) cannot fill the backends' memory:
//    short texts with few bindings only, named from a text's second sighting on, at most MAX_NAMED texts per
//    process (each connection prepares a text the first time it runs it by name).
//  - A migration that changes a table's columns while the worker runs makes Postgres refuse a prepared
//    `returning *` ("cached plan must not change result type"): that text is sent unnamed from then on, and the
//    failed command's next attempt (domain/retry.ts counts the error as transient) succeeds.

const MAX_TEXT_CHARS = 2000;
const MAX_BINDINGS = 64;
const MAX_NAMED = 400;
/** `insert into <table> (<columns>) values (…)`, nothing read from a table (no `select`). */
const VALUES_INSERT = /^\s*insert\s+into\s+[^()]+\([^()]*\)\s*values\s*\((?![\s\S]*\bselect\b)/i;

export interface StatementNamer {
  /** The name to send `sql` under, or undefined to send it unnamed. */
  nameFor(sql: string, bindings: number): string | undefined;
  /** `sql` is sent unnamed from now on. */
  retire(sql: string): void;
  readonly named: number;
}

export function statementNamer(limits = { maxTextChars: MAX_TEXT_CHARS, maxBindings: MAX_BINDINGS, maxNamed: MAX_NAMED }): StatementNamer {
  const seen = new Set<string>();
  const names = new Map<string, string>();
  const retired = new Set<string>();
  return {
    nameFor(sql, bindings) {
      if (retired.has(sql)) return undefined;
      if (bindings === 0 || bindings > limits.maxBindings || sql.length > limits.maxTextChars || !VALUES_INSERT.test(sql)) return undefined;
      const known = names.get(sql);
      if (known) return known;
      if (!seen.has(sql)) {
        // Sightings are remembered up to a bound too; past it, new texts simply stay unnamed.
        if (seen.size < limits.maxNamed * 4) seen.add(sql);
        return undefined;
      }
      if (names.size >= limits.maxNamed) return undefined;
      // A digest of the text: the same text gets the same name on every connection, another text another name.
      const name = `expw_auto_${createHash('sha1').update(sql).digest('base64url').slice(0, 20)}`;
      names.set(sql, name);
      return name;
    },
    retire(sql) {
      names.delete(sql);
      retired.add(sql);
    },
    get named() {
      return names.size;
    },
  };
}

interface CompiledQuery {
  sql?: string;
  bindings?: unknown[];
  options?: { name?: string } & Record<string, unknown>;
}

/** knex's pg client, sending frequent statements by name (statementNamer). */
export function preparingPgClient(namer: StatementNamer = statementNamer()): typeof Knex.Client {
  // `_query` (compiled query → pg's client.query) is the dialect's, not in knex's public types.
  const Base = PgDialect as new (config: Knex.Config) => { _query(connection: unknown, obj: CompiledQuery): Promise<unknown> };
  class PreparingPgClient extends Base {
    override _query(connection: unknown, obj: CompiledQuery): Promise<unknown> {
      const sql = obj.sql;
      if (!sql || obj.options?.name) return super._query(connection, obj);
      const name = namer.nameFor(sql, obj.bindings?.length ?? 0);
      if (!name) return super._query(connection, obj);
      obj.options = { ...obj.options, name };
      return super._query(connection, obj).catch((error: unknown) => {
        if (isStalePreparedStatement(error)) namer.retire(sql);
        throw error;
      });
    }
  }
  return PreparingPgClient as unknown as typeof Knex.Client;
}
