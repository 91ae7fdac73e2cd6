import knexFactory, { type Knex } from 'knex';
import pg from 'pg';
import { Model } from 'objection';
import { fileURLToPath } from 'node:url';
import type { Logger } from './logger.js';
import { preparingPgClient } from './db-prepared.js';

// BIGINT (int8) and NUMERIC come back as strings by default; our ids and sums fit in doubles.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));
pg.types.setTypeParser(pg.types.builtins.NUMERIC, (v) => Number(v));

export const migrationsDirectory = fileURLToPath(new URL('../migrations', import.meta.url));

export interface PoolOptions {
  /**
   * A part of the worker with a pool of its own (background-jobs.ts): its connections are labelled with it in
   * pg_stat_activity, and it does not become the models' default knex, which stays the app's pool.
   */
  component?: string;
  /** Postgres statement_timeout and lock_timeout of every connection of the pool, in ms. */
  statementTimeoutMs?: number;
  lockTimeoutMs?: number;
}

/** A knex pool on `databaseUrl`. */
export function createKnex(databaseUrl: string, poolMax = 10, logger?: Logger, options: PoolOptions = {}): Knex {
  const { component } = options;
  const tags = component ? { component: 'knex', pool: component } : { component: 'knex' };
  // Bounds are connection options, so bounding every transaction costs no statement.
  const settings = [
    options.statementTimeoutMs !== undefined ? `-c statement_timeout=${options.statementTimeoutMs}` : '',
    options.lockTimeoutMs !== undefined ? `-c lock_timeout=${options.lockTimeoutMs}` : '',
  ].filter(Boolean);
  const knex = knexFactory({
    // knex and pg print connection trouble with console.log by default; keep it in the structured log.
    log: {
      warn: (message: unknown) => logger?.warn(tags, String(message)),
      error: (message: unknown) => logger?.error(tags, String(message)),
      deprecate: (message: unknown) => logger?.debug(tags, String(message)),
      debug: (message: unknown) => logger?.debug(tags, String(message)),
    },
    // The app's pool (commands) sends its frequent statements by name (db-prepared.ts). The results and tracking
    // pools keep unnamed ones: their analytical statements are planned for each run's parameters and settings.
    client: component ? 'pg' : preparingPgClient(),
    connection: {
      connectionString: databaseUrl,
      application_name: component ? `experimentation-worker:${component}` : 'experimentation-worker',
      ...(settings.length ? { options: settings.join(' ') } : {}),
    },
    pool: { min: 0, max: poolMax },
    // Fail fast when the database is gone: the command then goes to the retry queue instead of holding
    // its partition for long.
    acquireConnectionTimeout: 3000,
    migrations: { directory: migrationsDirectory, loadExtensions: ['.ts', '.js'] },
  });
  if (!component) Model.knex(knex);
  return knex;
}

/** Creates the database named in the URL when it does not exist (local stack and tests). */
export async function ensureDatabase(databaseUrl: string): Promise<boolean> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!/^[A-Za-z0-9_\-]+$/.test(name)) throw new Error(`DATABASE_URL names an unusual database "${name}"; create it yourself`);
  url.pathname = '/postgres';
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    const found = await client.query('select 1 from pg_database where datname = $1', [name]);
    if (found.rowCount) return false;
    await client.query(`create database "${name}"`);
    return true;
  } finally {
    await client.end();
  }
}

export async function migrateLatest(knex: Knex): Promise<string[]> {
  const [, applied] = (await knex.migrate.latest()) as [number, string[]];
  return applied;
}
