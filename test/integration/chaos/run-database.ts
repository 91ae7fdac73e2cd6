import knexFactory, { type Knex } from 'knex';
import { createKnex, ensureDatabase, migrateLatest } from '../../../src/db.js';
import { delay } from './wait.js';

/** The toolkit's own connections carry this name, so cutting "the workers' connections" spares them. */
export const TOOLKIT_APPLICATION_NAME = 'chaos-toolkit';

function withDatabase(baseUrl: string, database: string): string {
  const url = new URL(baseUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

/**
 * A database of the run's own (created, migrated, dropped at the end), so cutting connections and reading
 * the outcome concern this run's workers only, never another engineer's.
 */
export class RunDatabase {
  readonly url: string;
  /** The toolkit's connections to the run database (verifier, relay-leader look-ups). */
  readonly knex: Knex;
  private readonly admin: Knex;

  private constructor(readonly name: string, baseUrl: string) {
    this.url = withDatabase(baseUrl, name);
    this.knex = knexFactory({ client: 'pg', connection: { connectionString: this.url, application_name: TOOLKIT_APPLICATION_NAME }, pool: { min: 0, max: 3 } });
    this.admin = knexFactory({ client: 'pg', connection: { connectionString: withDatabase(baseUrl, 'postgres'), application_name: TOOLKIT_APPLICATION_NAME }, pool: { min: 0, max: 1 } });
  }

  /** `name` must be fresh (e.g. `chaos_<run>`); the migrations are applied with the worker's own code. */
  static async create(name: string, baseUrl = process.env.CHAOS_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'): Promise<RunDatabase> {
    if (!/^[a-z0-9_]+$/.test(name)) throw new Error(`unusual database name ${name}`);
    const db = new RunDatabase(name, baseUrl);
    if (!(await ensureDatabase(db.url))) throw new Error(`database ${name} already exists; a run needs a fresh one`);
    const migrator = createKnex(db.url, 1);
    try {
      await migrateLatest(migrator);
    } catch (error) {
      await migrator.destroy();
      await db.drop().catch(() => {});
      throw error;
    }
    await migrator.destroy();
    return db;
  }

  /** pg_terminate_backend on every connection to this run's database except the toolkit's. Returns how many. */
  async terminateWorkerConnections(): Promise<number> {
    const { rows } = await this.admin.raw<{ rows: Array<{ n: number }> }>(
      `select count(*)::int as n from (
         select pg_terminate_backend(pid) from pg_stat_activity
          where datname = ? and pid <> pg_backend_pid() and coalesce(application_name, '') <> ?
       ) t`,
      [this.name, TOOLKIT_APPLICATION_NAME],
    );
    return rows[0]?.n ?? 0;
  }

  /**
   * An outage: new connections to the run database are refused (datallowconn off) and every worker connection
   * is cut; after `ms` the database takes connections again. The toolkit's pooled connections stay up.
   */
  async unreachableFor(ms: number): Promise<number> {
    await this.admin.raw(`alter database "${this.name}" allow_connections false`);
    try {
      const cut = await this.terminateWorkerConnections();
      await delay(ms);
      return cut;
    } finally {
      await this.admin.raw(`alter database "${this.name}" allow_connections true`);
    }
  }

  /** Connections to the run database, by application_name (a check that nobody else uses it). */
  async connectionsByApplication(): Promise<Record<string, number>> {
    const { rows } = await this.admin.raw<{ rows: Array<{ application_name: string; n: number }> }>(
      `select coalesce(application_name, '') as application_name, count(*)::int as n from pg_stat_activity where datname = ? group by 1`,
      [this.name],
    );
    return Object.fromEntries(rows.map((r) => [r.application_name, r.n]));
  }

  async drop(): Promise<void> {
    await this.knex.destroy();
    try {
      await this.admin.raw(`drop database if exists "${this.name}" with (force)`);
    } finally {
      await this.admin.destroy();
    }
  }
}
